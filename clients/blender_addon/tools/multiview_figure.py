"""docs/img/multiview.png: "Texture from views" on a UV sphere, made in real Blender with the add-on's own code.

    blender -b --factory-startup --python-exit-code 1 --python clients/blender_addon/tools/multiview_figure.py \
        [-- OUT.png]

(grpcio/protobuf/numpy for Blender's Python in $DCCBRIDGE_BLENDER_DEPS or .blender-deps/.) It proposes 4 cameras
around a UV sphere and runs multiview.Run view by view — depth capture, reprojection of what earlier views painted,
the inpaint mask, the bake — exactly as the operator does, except that no server is asked: each view's "generated"
image is a flat colour per view (red, green, blue, yellow) shaded by n·v with latitude bands anchored to the sphere,
painted only where the view's mask says so and the reprojected init elsewhere, the way an inpaint keeps it. Flat
colours make the weighting and seam blending readable; the tiny test model would paint noise.

Rows: the 4 views as sent back; their masks (white = to paint; view 1 paints everything it sees); the baked UV
texture, its coverage (white = some view saw the texel; the poles' undersides stay dark), and the textured sphere
rendered by Cycles from two new angles.
"""

import os
import pathlib
import sys
import tempfile
from types import SimpleNamespace

import bpy

HERE = pathlib.Path(__file__).resolve()
ADDON_ROOT = HERE.parent.parent
REPO = ADDON_ROOT.parent.parent
sys.path.insert(0, os.environ.get("DCCBRIDGE_BLENDER_DEPS") or str(REPO / ".blender-deps"))
sys.path.insert(0, str(ADDON_ROOT))

import numpy as np  # noqa: E402

import dccbridge_blender  # noqa: E402
from dccbridge_blender import bake, capture, imagebuf, multiview  # noqa: E402

VIEW = 128
TEXTURE = 256
TILE = 256
COLOURS = [(0.85, 0.2, 0.2), (0.2, 0.75, 0.3), (0.25, 0.35, 0.9), (0.95, 0.8, 0.2)]


def image_pixels(image) -> np.ndarray:
    w, h = image.size
    flat = np.empty(w * h * 4, np.float32)
    image.pixels.foreach_get(flat)
    return flat.reshape(h, w, 4)[::-1, :, :3]


def tile(rgb: np.ndarray) -> np.ndarray:
    """Any (h, w[, 3]) image scaled (nearest) into a TILE × TILE square."""
    rgb = np.asarray(rgb, dtype=np.float32)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=-1)
    rows = (np.arange(TILE) * rgb.shape[0] // TILE)
    cols = (np.arange(TILE) * rgb.shape[1] // TILE)
    out = rgb[rows][:, cols]
    out[:2], out[-2:], out[:, :2], out[:, -2:] = 1.0, 1.0, 1.0, 1.0      # white frame between tiles
    return out


def main():
    out = sys.argv[sys.argv.index("--") + 1] if "--" in sys.argv[1:] else str(REPO / "docs" / "img" / "multiview.png")
    dccbridge_blender.register()
    scene = bpy.context.scene
    bpy.data.objects.remove(bpy.data.objects["Cube"], do_unlink=True)
    bpy.ops.mesh.primitive_uv_sphere_add(segments=32, ring_count=16, radius=1.0)
    sphere = bpy.context.active_object
    sphere.data.polygons.foreach_set("use_smooth", [True] * len(sphere.data.polygons))
    sphere.data.update()
    scene.render.resolution_x = scene.render.resolution_y = VIEW
    settings = scene.dccbridge
    settings.use_render_size, settings.width, settings.height = False, VIEW, VIEW
    settings.capture_samples = 4
    cameras = multiview.propose_cameras(scene, [sphere], 4, 30.0, 50.0, 1.0)
    options = {"texture_size": TEXTURE, "weight_power": 2.0, "dilate": 2, "grazing_cos": 0.342, "strength": 1.0,
               "base_seed": 1, "folder": tempfile.mkdtemp(prefix="dccbridge-figure-")}
    params = {"model": "", "prompt": "a ball", "negative_prompt": "", "width": VIEW, "height": VIEW, "steps": 2,
              "guidance": 5.0, "scheduler": "", "seed": 1, "strength": 1.0, "adapters": None}
    submitted = []

    def submit(task, ctx):
        submitted.append((task, ctx))
        return None

    run = multiview.Run(scene, settings, options, [sphere], cameras, params, submit)
    run.sequence = SimpleNamespace(current=None)
    tri_pos, tri_uv, tri_nrm = run.meshes[sphere.name]
    views, masks = [], []
    for k, camera in enumerate(cameras):
        run.next_task(k)
        record = run.views[k]
        seen = bake.rasterize_view(tri_pos, tri_uv, tri_nrm, record["_camera"])
        if record["inpaint"]:
            init = image_pixels(bpy.data.images[record["init_image"]])
            mask = image_pixels(bpy.data.images[record["mask_image"]])[..., 0] > 0.5
        else:
            init, mask = np.full((VIEW, VIEW, 3), 0.5), seen["mask"]
        # The stand-in for the server's image: this view's colour, shaded, with bands of latitude.
        to_camera = bake.view_directions(np.zeros((VIEW, VIEW, 3)), record["_camera"])
        shade = 0.45 + 0.55 * np.clip(np.sum(seen["normal"] * to_camera, axis=-1), 0, 1)
        bands = np.where(np.sin(np.arcsin(np.clip(seen["normal"][..., 2], -1, 1)) * 10) > 0, 1.0, 0.7)
        painted = np.asarray(COLOURS[k])[None, None] * (shade * bands)[..., None]
        view = np.where(mask[..., None], painted, init)
        view = np.where(seen["mask"][..., None], view, 0.12)
        image = bpy.data.images.new(f"figure view {k + 1}", VIEW, VIEW)
        rgba = np.ones((VIEW, VIEW, 4), np.float32)
        rgba[..., :3] = view
        image.pixels.foreach_set(rgba[::-1].ravel())
        run.sequence.current = SimpleNamespace(names=[image.name], job_id=f"figure-{k + 1}")
        views.append(view)
        masks.append(mask.astype(np.float32))
    run.finish(SimpleNamespace(names=[]))
    texture = image_pixels(bpy.data.images[f"DCC multiview {sphere.name}"])
    coverage = image_pixels(bpy.data.images[f"DCC multiview {sphere.name} coverage"])
    renders = []
    for location in ((3.2, -3.2, 1.2), (-2.5, 2.0, 3.2)):
        camera = bpy.data.objects.new("figure camera", bpy.data.cameras.new("figure camera"))
        scene.collection.objects.link(camera)
        camera.location = location
        camera.rotation_euler = (multiview._vector((0, 0, 0)) - multiview._vector(location)).to_track_quat(
            "-Z", "Y").to_euler()
        bpy.context.view_layer.update()
        shot = capture.render_views(scene, camera, TILE, TILE, depth=False, samples=16)
        path = str(pathlib.Path(options["folder"]) / "render.png")
        with open(path, "wb") as f:
            f.write(shot["color_png"])
        renders.append(image_pixels(bpy.data.images.load(path, check_existing=False)))
    rows = [np.hstack([tile(v) for v in views]), np.hstack([tile(m) for m in masks]),
            np.hstack([tile(texture), tile(coverage), tile(renders[0]), tile(renders[1])])]
    figure = np.vstack(rows)
    pathlib.Path(out).write_bytes(imagebuf.encode_png(imagebuf.to_rgba8(figure)))
    print("wrote", out, [round(v["covered_after"], 3) for v in run.views])


main()
