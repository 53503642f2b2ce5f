"""Texture from views: several cameras around the selection, generated view by view on the server, baked into one
UV texture per object here (bake.py, numpy; no GPU) and assigned as the object's material.

View 1 is a generate job guided by its depth pass. Every later view is an inpaint job: its init image is what the
earlier views painted, re-rendered from this camera (bake.reproject), and its mask the pixels no view covered yet
or saw only at a grazing angle — so the views agree where they overlap. Each view's camera, prompt, seed and job
id are recorded on the object (custom property "dccbridge_multiview", JSON).
"""

from __future__ import annotations

import json
import math
import os
import tempfile

import bpy

from . import apply, capture, jobs, viewplan

COLLECTION = "DCC Views"


def _np():
    import numpy

    return numpy


# -- cameras ----------------------------------------------------------------------------------------------


def selection_bounds(objects) -> tuple:
    """(center, radius) around the objects' world bounding boxes."""
    corners = [tuple(o.matrix_world @ _vector(c)) for o in objects for c in o.bound_box]
    return viewplan.bounds_sphere(corners)


def _vector(values):
    from mathutils import Vector

    return Vector(values)


def propose_cameras(scene, objects, count: int, elevation_deg: float, lens_mm: float = 50.0,
                    aspect: float = 1.0) -> list:
    """Replace the cameras of the "DCC Views" collection with `count` cameras on a ring around the objects, each
    aimed at their centre and far enough to frame them. Returns the camera objects, in view order."""
    if not objects:
        raise ValueError("Propose cameras: select the mesh objects to texture")
    collection = bpy.data.collections.get(COLLECTION)
    if collection is None:
        collection = bpy.data.collections.new(COLLECTION)
    if collection.name not in scene.collection.children:
        scene.collection.children.link(collection)
    for old in list(collection.objects):
        data = old.data
        bpy.data.objects.remove(old, do_unlink=True)
        if data is not None and data.users == 0:
            bpy.data.cameras.remove(data)
    center, radius = selection_bounds(objects)
    aspect = min(aspect, 1.0 / aspect) if aspect > 0 else 1.0      # narrower side / wider side of the views
    cameras = []
    datas = [bpy.data.cameras.new(f"DCC View {i + 1}") for i in range(count)]
    for data in datas:
        data.lens = lens_mm
    fov = math.degrees(2.0 * math.atan(math.tan(datas[0].angle / 2.0) * aspect))  # the narrower side frames it
    distance = viewplan.framing_distance(radius, fov)
    positions = viewplan.ring_positions(center, radius, count, elevation_deg, fov)
    for i, (data, position) in enumerate(zip(datas, positions)):
        data.clip_start = max(0.01, (distance - radius) * 0.1)
        data.clip_end = (distance + radius) * 2.0
        camera = bpy.data.objects.new(f"DCC View {i + 1}", data)
        collection.objects.link(camera)
        camera.location = position
        direction = _vector(center) - _vector(position)
        camera.rotation_euler = direction.to_track_quat("-Z", "Y").to_euler()
        cameras.append(camera)
    bpy.context.view_layer.update()
    return cameras


def view_cameras(context) -> list:
    """The cameras to texture from: the selected cameras (by name), else the "DCC Views" collection's."""
    picked = sorted((o for o in context.selected_objects if o.type == "CAMERA"), key=lambda o: o.name)
    if picked:
        return picked
    collection = bpy.data.collections.get(COLLECTION)
    cameras = sorted((o for o in collection.objects if o.type == "CAMERA"), key=lambda o: o.name) if collection else []
    if not cameras:
        raise ValueError("Texture from views: select cameras, or use Propose cameras first")
    return cameras


# -- the mesh as triangles ----------------------------------------------------------------------------------


def mesh_triangles(obj) -> tuple:
    """(tri_pos, tri_uv, tri_nrm, uv_map) of the evaluated mesh in world space: (T, 3, 3), (T, 3, 2), (T, 3, 3)
    and the name of the UV map used (the active one). Smooth faces carry vertex normals, flat faces their own."""
    np = _np()
    depsgraph = bpy.context.evaluated_depsgraph_get()
    evaluated = obj.evaluated_get(depsgraph)
    mesh = evaluated.to_mesh()
    try:
        if not mesh.uv_layers:
            raise ValueError(f"'{obj.name}' has no UV map: unwrap it first (UV > Smart UV Project)")
        layer = mesh.uv_layers.active or mesh.uv_layers[0]
        mesh.calc_loop_triangles()
        count = len(mesh.loop_triangles)
        loops = np.empty(count * 3, np.int32)
        verts = np.empty(count * 3, np.int32)
        polys = np.empty(count, np.int32)
        mesh.loop_triangles.foreach_get("loops", loops)
        mesh.loop_triangles.foreach_get("vertices", verts)
        mesh.loop_triangles.foreach_get("polygon_index", polys)
        co = np.empty(len(mesh.vertices) * 3, np.float32)
        vnormal = np.empty(len(mesh.vertices) * 3, np.float32)
        mesh.vertices.foreach_get("co", co)
        mesh.vertices.foreach_get("normal", vnormal)
        pnormal = np.empty(len(mesh.polygons) * 3, np.float32)
        smooth = np.empty(len(mesh.polygons), bool)
        mesh.polygons.foreach_get("normal", pnormal)
        mesh.polygons.foreach_get("use_smooth", smooth)
        uv = np.empty(len(mesh.loops) * 2, np.float32)
        layer.data.foreach_get("uv", uv)
        uv_name = layer.name
    finally:
        evaluated.to_mesh_clear()
    world = np.array(obj.matrix_world, dtype=np.float64)
    linear, offset = world[:3, :3], world[:3, 3]
    normal_matrix = np.linalg.inv(linear).T
    co, vnormal, pnormal = co.reshape(-1, 3), vnormal.reshape(-1, 3), pnormal.reshape(-1, 3)
    tri_pos = (co[verts] @ linear.T + offset).reshape(count, 3, 3)
    flat = np.repeat(pnormal[polys], 3, axis=0)
    tri_nrm = np.where(np.repeat(smooth[polys], 3)[:, None], vnormal[verts], flat) @ normal_matrix.T
    tri_uv = uv.reshape(-1, 2)[loops].reshape(count, 3, 2)
    return tri_pos, tri_uv, tri_nrm.reshape(count, 3, 3), uv_name


# -- one run: N views, then the bake --------------------------------------------------------------------------


def image_rgb(image):
    """An image datablock's pixels as float (H, W, 3), top row first (byte images: display values)."""
    np = _np()
    w, h = image.size
    flat = np.empty(w * h * 4, np.float32)
    image.pixels.foreach_get(flat)
    return flat.reshape(h, w, 4)[::-1, :, :3].astype(np.float64)


def png_of(rgb) -> bytes:
    np = _np()
    buf = capture.imaging_np()
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=-1)
    return buf.encode_png(buf.to_rgba8(rgb))


class Run:
    """State of one "Texture from views": the per-object accumulators and the per-view records. next_task(i) runs on
    the main thread (jobs.Sequence): it bakes view i−1's result, captures view i and submits its job."""

    def __init__(self, scene, settings, options, objects, cameras, params: dict, submit):
        from . import bake

        self.scene, self.settings, self.options = scene, settings, options
        self.objects, self.cameras, self.params, self.submit = list(objects), list(cameras), params, submit
        self.meshes, self.accumulators, self.uv_maps = {}, {}, {}
        for obj in self.objects:
            tri_pos, tri_uv, tri_nrm, uv_map = mesh_triangles(obj)
            self.meshes[obj.name] = (tri_pos, tri_uv, tri_nrm)
            self.uv_maps[obj.name] = uv_map
            position, normal, valid = bake.rasterize_uv(tri_uv, tri_pos, tri_nrm, options["texture_size"])
            self.accumulators[obj.name] = bake.Accumulator(position, normal, valid, options["weight_power"])
        self.center, _radius = selection_bounds(self.objects)
        self.views: list = []        # per view: the record plus "_camera" / "_plane" for the bake
        self.sequence = None

    def next_task(self, index: int):
        from . import bake, requests

        if index > 0:
            self._bake_view(index - 1)
        p = dict(self.params)
        camera = self.cameras[index]
        shot = capture.render_views(self.scene, camera, p["width"], p["height"], color=False,
                                    engine=self.settings.capture_engine, samples=self.settings.capture_samples)
        depth = {k: v for k, v in shot["depth"].items() if k != "plane"}
        depth["normalization"] = self.settings.depth_normalization
        cam = capture.camera_dict(self.scene, camera, p["width"], p["height"])
        label = viewplan.view_label(tuple(camera.matrix_world.translation), self.center)
        p["prompt"] = viewplan.view_prompt(self.params["prompt"], label)
        p["seed"] = viewplan.view_seed(self.options["base_seed"], index)
        unit = {"type": "depth", "weight": self.settings.unit_depth.weight, "start": self.settings.unit_depth.start,
                "end": self.settings.unit_depth.end, "depth": depth}
        task = requests.generate_task(p, [unit])
        record = {"index": index, "camera": camera.name, "label": label, "prompt": p["prompt"], "seed": p["seed"],
                  "inpaint": False, "_camera": cam, "_plane": shot["depth"]["plane"]}
        if any(acc.coverage.any() for acc in self.accumulators.values()):
            init, mask = self._reproject(cam, shot["depth"]["plane"])
            init_png, mask_png = png_of(init), png_of(mask)
            requests.with_inpaint(task, init_png, mask_png, self.options["strength"])
            # Kept in the .blend beside the views: what each later view started from, and where it painted.
            for role, data in (("init", init_png), ("mask", mask_png)):
                old = bpy.data.images.get(f"DCC view {index + 1} {role}")
                if old is not None:
                    bpy.data.images.remove(old)
                record[f"{role}_image"] = apply.image_from_bytes(data, f"DCC view {index + 1} {role}",
                                                                 non_color=role == "mask").name
            record.update(inpaint=True, strength=self.options["strength"], mask_fraction=float(mask.mean()),
                          init_painted_fraction=float(((mask < 0.5) & (self._on_mesh > 0)).mean()))
        self.views.append(record)
        from .operators import common

        ctx = common.context_of(p, [unit])
        ctx.update(kind="multiview", label=f"view {index + 1}/{len(self.cameras)}", view=index,
                   camera_name=camera.name, objects=[o.name for o in self.objects])
        return self.submit(task, ctx)

    def _reproject(self, cam: dict, plane):
        """Init image and mask for the next camera: each object re-rendered with what is baked so far; the nearest
        object wins a pixel; pixels hidden behind other scene geometry (the depth pass) are left alone."""
        from . import bake

        np = _np()
        height, width = int(cam["height"]), int(cam["width"])
        init = np.full((height, width, 3), 0.5)
        mask = np.zeros((height, width))
        nearest = np.full((height, width), np.inf)
        for name, (tri_pos, tri_uv, tri_nrm) in self.meshes.items():
            seen = bake.rasterize_view(tri_pos, tri_uv, tri_nrm, cam)
            seen["mask"] &= seen["depth"] <= plane * (1 + bake.DEPTH_TOLERANCE) + bake.DEPTH_TOLERANCE_ABS
            seen["mask"] &= seen["depth"] < nearest
            obj_init, obj_mask = bake.reproject(self.accumulators[name], seen, self.options["grazing_cos"])
            wins = seen["mask"]
            init[wins], mask[wins], nearest[wins] = obj_init[wins], obj_mask[wins], seen["depth"][wins]
        self._on_mesh = np.isfinite(nearest).astype(np.float64)
        return init, mask

    def _bake_view(self, index: int):
        handle = self.sequence.current
        record = self.views[index]
        image = bpy.data.images.get(handle.names[0]) if handle is not None and handle.names else None
        if image is None:
            raise RuntimeError(f"view {index + 1}: the job left no image to bake")
        rgb = image_rgb(image)
        for acc in self.accumulators.values():
            acc.add_view(rgb, record["_camera"], record["_plane"])
        record.update(job_id=handle.job_id, image=image.name, seed=int(image.get("dccbridge_seed", record["seed"])),
                      covered_after=self._covered_fraction())

    def _covered_fraction(self) -> float:
        covered = sum(int(a.coverage.sum()) for a in self.accumulators.values())
        valid = sum(int(a.valid.sum()) for a in self.accumulators.values())
        return covered / max(1, valid)

    def finish(self, sequence):
        """After the last view: bake it, write each object's texture (+ coverage), assign the material."""
        self._bake_view(len(self.cameras) - 1)
        names = []
        for obj in self.objects:
            names += write_result(obj, self.accumulators[obj.name], self.uv_maps[obj.name], self.views, self.params,
                                  self.options)
        sequence.names.extend(names)


def write_result(obj, acc, uv_map: str, views: list, params: dict, options: dict) -> list:
    """The baked texture and its coverage as packed images (and PNGs on disk), a material using the texture through
    the object's UV map, and the per-view record on the object."""
    np = _np()
    size = options["texture_size"]
    texture = acc.texture(dilate=options["dilate"])
    coverage = acc.coverage.astype(np.float64)
    folder = options.get("folder") or (bpy.path.abspath("//dccbridge_textures") if bpy.data.filepath
                                       else os.path.join(tempfile.gettempdir(), "dccbridge_textures"))
    os.makedirs(folder, exist_ok=True)
    written = []
    images = {}
    for role, pixels in (("albedo", texture), ("coverage", coverage)):
        name = f"DCC multiview {obj.name}" + ("" if role == "albedo" else " coverage")
        old = bpy.data.images.get(name)
        if old is not None:
            bpy.data.images.remove(old)
        image = bpy.data.images.new(name, size, size, alpha=False)
        rgba = np.ones((size, size, 4), np.float32)
        rgba[..., :3] = pixels[..., None] if pixels.ndim == 2 else pixels
        image.pixels.foreach_set(rgba[::-1].ravel())
        path = os.path.join(folder, bpy.path.clean_name(name) + ".png")
        image.filepath_raw = path
        image.file_format = "PNG"
        image.save()
        image.pack()
        if role == "coverage":
            image.colorspace_settings.name = "Non-Color"
        image["dccbridge_role"] = role
        images[role] = image
        written.append((image.name, path))
    public = [{k: v for k, v in view.items() if not k.startswith("_")} for view in views]
    record = {"views": public, "texture": images["albedo"].name, "texture_path": written[0][1],
              "coverage": float(coverage[acc.valid].mean()) if acc.valid.any() else 0.0,
              "texture_size": size, "uv_map": uv_map, "weight_power": options["weight_power"],
              "grazing_cos": options["grazing_cos"]}
    ctx = {**{k: params.get(k) for k in ("model", "prompt", "negative_prompt")}, "kind": "multiview"}
    material = apply.pbr_material(f"DCC multiview {obj.name}", {"albedo": images["albedo"]}, ctx, uv_map=uv_map)
    apply.set_provenance(material, ctx, options["base_seed"], parameters="", job_id=public[-1].get("job_id", ""))
    material["dccbridge_multiview"] = json.dumps(record)
    apply.set_provenance(images["albedo"], ctx, options["base_seed"])
    apply.assign_material([obj.name], material)
    obj["dccbridge_multiview"] = json.dumps(record)
    return [images["albedo"].name, images["coverage"].name, material.name]


def start(context, settings, mv, params: dict, submit) -> "jobs.Sequence":
    """Start a run over the selected meshes and the chosen cameras (jobs.Sequence: one job per view)."""
    from .operators import common

    objects = [o for o in context.selected_objects if o.type == "MESH"]
    if not objects:
        raise ValueError("Texture from views: select the mesh objects to texture")
    cameras = view_cameras(context)
    base = common.resolve_seed(settings)
    options = {"texture_size": mv.texture_size, "weight_power": mv.weight_power, "dilate": mv.dilate,
               "grazing_cos": math.cos(math.radians(mv.grazing_angle)), "strength": mv.strength,
               "base_seed": common.random_seed() if base is None else base}
    run = Run(context.scene, settings, options, objects, cameras, params, submit)
    sequence = jobs.Sequence(len(cameras), run.next_task, f"texture from {len(cameras)} views")
    run.sequence = sequence
    sequence.on_finished = run.finish
    sequence.run = run
    return jobs.start_sequence(sequence)
