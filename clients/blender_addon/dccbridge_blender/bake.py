"""Multi-view texture baking math: numpy only, no bpy (tests/test_blender_addon_units.py runs it outside Blender).

Conventions. A mesh arrives as triangles: `tri_pos` (T, 3, 3) world positions, `tri_nrm` (T, 3, 3) world normals,
`tri_uv` (T, 3, 2) UVs (0..1, v up). Textures and view images are (rows, cols, ...) arrays, top row first (the
wire's layout, imagebuf.py). A texel (r, c) of an S×S texture sits at u = (c + 0.5) / S, v = 1 − (r + 0.5) / S.
A camera is the dict capture.camera_dict returns ("world_to_view", "projection" as nested rows, "width", "height",
"perspective"). Depth is the distance along the camera's axis (what Blender's Z pass holds; posemap.project).

The bake: every texel's world position and normal come from rasterising the UV triangles; a view sees a texel when
it projects into the image, faces the camera and its depth matches the captured depth pass (nothing in front).
Its colour from that view is weighted by how squarely the view sees it, max(0, n·v)^k; the views' colours are
averaged by weight (which blends the seams between views), and the covered area is dilated a few texels so UV
island edges do not bleed the background in when the texture is filtered.
"""

from __future__ import annotations

import numpy as np

DEPTH_TOLERANCE = 0.02        # relative: a texel is "not occluded" when its depth is within 2% of the pass's
DEPTH_TOLERANCE_ABS = 0.02    # plus this much (scene units), for texels at the pass's pixel edges


def _matrix(rows) -> np.ndarray:
    return np.asarray(rows, dtype=np.float64).reshape(4, 4)


def project_points(points: np.ndarray, world_to_view, projection, width: int, height: int) -> tuple:
    """(x_px, y_px, depth) for (..., 3) world points — posemap.project vectorised: x right, y down from the top-left
    corner of a width × height image, depth along the view axis (negative = behind the camera)."""
    pts = np.asarray(points, dtype=np.float64)
    homo = np.concatenate([pts, np.ones(pts.shape[:-1] + (1,))], axis=-1)
    view = homo @ _matrix(world_to_view).T
    clip = view @ _matrix(projection).T
    w = np.where(np.abs(clip[..., 3]) > 1e-12, clip[..., 3], 1e-12)
    x = (clip[..., 0] / w + 1.0) * 0.5 * width
    y = (1.0 - (clip[..., 1] / w + 1.0) * 0.5) * height
    return x, y, -view[..., 2]


def view_directions(points: np.ndarray, camera: dict) -> np.ndarray:
    """Unit vectors from each point towards the camera (perspective), or the camera's backward axis (ortho)."""
    view_to_world = np.linalg.inv(_matrix(camera["world_to_view"]))
    if camera.get("perspective", True):
        d = view_to_world[:3, 3] - np.asarray(points, dtype=np.float64)
    else:
        d = np.broadcast_to(view_to_world[:3, 2], np.shape(points)).copy()
    return d / np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-12)


def _barycentric(p0, p1, p2, xs, ys):
    """Barycentric weights of points (xs, ys) in the 2D triangle p0 p1 p2; None when degenerate."""
    det = (p1[1] - p2[1]) * (p0[0] - p2[0]) + (p2[0] - p1[0]) * (p0[1] - p2[1])
    if abs(det) < 1e-14:
        return None
    b0 = ((p1[1] - p2[1]) * (xs - p2[0]) + (p2[0] - p1[0]) * (ys - p2[1])) / det
    b1 = ((p2[1] - p0[1]) * (xs - p2[0]) + (p0[0] - p2[0]) * (ys - p2[1])) / det
    return b0, b1, 1.0 - b0 - b1


def _covered_pixels(corners: np.ndarray, width: int, height: int, eps: float = 1e-7):
    """Pixel centres inside a 2D triangle given in pixel units (x right, y down): (rows, cols, b0, b1, b2)."""
    lo = np.floor(corners.min(axis=0) - 0.5).astype(int)
    hi = np.ceil(corners.max(axis=0) - 0.5).astype(int)
    c0, c1 = max(lo[0], 0), min(hi[0], width - 1)
    r0, r1 = max(lo[1], 0), min(hi[1], height - 1)
    if c1 < c0 or r1 < r0:
        return None
    rows, cols = np.mgrid[r0:r1 + 1, c0:c1 + 1]
    b = _barycentric(corners[0], corners[1], corners[2], cols + 0.5, rows + 0.5)
    if b is None:
        return None
    inside = (b[0] >= -eps) & (b[1] >= -eps) & (b[2] >= -eps)
    return rows[inside], cols[inside], b[0][inside], b[1][inside], b[2][inside]


def rasterize_uv(tri_uv, tri_pos, tri_nrm, size: int) -> tuple:
    """Per texel of a size × size texture: world position (S, S, 3), unit normal (S, S, 3) and whether a triangle
    covers it (S, S) — the mesh laid out in UV space."""
    tri_uv, tri_pos, tri_nrm = (np.asarray(a, dtype=np.float64) for a in (tri_uv, tri_pos, tri_nrm))
    position = np.zeros((size, size, 3))
    normal = np.zeros((size, size, 3))
    valid = np.zeros((size, size), dtype=bool)
    corners_all = np.stack([tri_uv[..., 0] * size, (1.0 - tri_uv[..., 1]) * size], axis=-1)
    for t in range(len(tri_uv)):
        hit = _covered_pixels(corners_all[t], size, size)
        if hit is None:
            continue
        rows, cols, b0, b1, b2 = hit
        weights = np.stack([b0, b1, b2], axis=-1)
        position[rows, cols] = weights @ tri_pos[t]
        normal[rows, cols] = weights @ tri_nrm[t]
        valid[rows, cols] = True
    length = np.linalg.norm(normal, axis=-1, keepdims=True)
    normal = np.where(length > 1e-12, normal / np.maximum(length, 1e-12), 0.0)
    return position, normal, valid


def rasterize_view(tri_pos, tri_uv, tri_nrm, camera: dict) -> dict:
    """The mesh seen from a camera, rendered in software with a depth buffer (no GPU): per pixel "depth" (inf off
    the mesh), "uv" (H, W, 2), "normal" (H, W, 3) and "mask" (on the mesh). Perspective-correct interpolation.
    Triangles that reach behind the camera are left out."""
    width, height = int(camera["width"]), int(camera["height"])
    tri_pos, tri_uv, tri_nrm = (np.asarray(a, dtype=np.float64) for a in (tri_pos, tri_uv, tri_nrm))
    x, y, d = project_points(tri_pos, camera["world_to_view"], camera["projection"], width, height)
    depth = np.full((height, width), np.inf)
    uv = np.zeros((height, width, 2))
    normal = np.zeros((height, width, 3))
    for t in range(len(tri_pos)):
        if np.any(d[t] <= 1e-6):
            continue
        hit = _covered_pixels(np.stack([x[t], y[t]], axis=-1), width, height)
        if hit is None:
            continue
        rows, cols, b0, b1, b2 = hit
        persp = np.stack([b0 / d[t, 0], b1 / d[t, 1], b2 / d[t, 2]], axis=-1)
        inv_depth = persp.sum(axis=-1)
        z = 1.0 / inv_depth
        weights = persp / inv_depth[:, None]
        nearer = z < depth[rows, cols]
        rows, cols, z, weights = rows[nearer], cols[nearer], z[nearer], weights[nearer]
        depth[rows, cols] = z
        uv[rows, cols] = weights @ tri_uv[t]
        normal[rows, cols] = weights @ tri_nrm[t]
    length = np.linalg.norm(normal, axis=-1, keepdims=True)
    normal = np.where(length > 1e-12, normal / np.maximum(length, 1e-12), 0.0)
    return {"depth": depth, "uv": uv, "normal": normal, "mask": np.isfinite(depth)}


def texel_visibility(position, normal, valid, camera: dict, depth_plane: np.ndarray | None) -> dict:
    """How one view sees each texel: "x", "y" (pixel coordinates), "cos" (n·v, 0 when facing away) and "visible"
    (inside the image, facing the camera, and — with a depth pass — not hidden behind anything nearer)."""
    width, height = int(camera["width"]), int(camera["height"])
    x, y, d = project_points(position, camera["world_to_view"], camera["projection"], width, height)
    cos = np.sum(normal * view_directions(position, camera), axis=-1)
    cos = np.where(valid, np.clip(cos, 0.0, 1.0), 0.0)
    inside = valid & (d > 0) & (x >= 0) & (x < width) & (y >= 0) & (y < height) & (cos > 0)
    if depth_plane is not None:
        plane = np.asarray(depth_plane, dtype=np.float64)
        cols = np.clip(np.floor(x).astype(int), 0, width - 1)
        rows = np.clip(np.floor(y).astype(int), 0, height - 1)
        seen = plane[rows, cols]
        inside &= np.abs(d - seen) <= DEPTH_TOLERANCE * np.abs(d) + DEPTH_TOLERANCE_ABS
    return {"x": x, "y": y, "cos": np.where(inside, cos, 0.0), "visible": inside}


def weight_of(cos: np.ndarray, power: float) -> np.ndarray:
    """How much a view counts for a texel: max(0, n·v)^power (grazing views count little)."""
    return np.power(np.clip(cos, 0.0, 1.0), power)


def sample_bilinear(image: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """image (H, W, C) at pixel coordinates (x right, y down, pixel centres at +0.5), clamped at the borders."""
    height, width = image.shape[:2]
    fx = np.clip(x - 0.5, 0, width - 1)
    fy = np.clip(y - 0.5, 0, height - 1)
    x0, y0 = np.floor(fx).astype(int), np.floor(fy).astype(int)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    ax, ay = (fx - x0)[..., None], (fy - y0)[..., None]
    img = np.asarray(image, dtype=np.float64)
    top = img[y0, x0] * (1 - ax) + img[y0, x1] * ax
    bottom = img[y1, x0] * (1 - ax) + img[y1, x1] * ax
    return top * (1 - ay) + bottom * ay


class Accumulator:
    """The texture being baked: a running weighted sum of the views' colours, per texel, and the best n·v any view
    has given each texel so far (what the next view's inpaint mask is made from)."""

    def __init__(self, position, normal, valid, power: float = 2.0):
        self.position, self.normal, self.valid, self.power = position, normal, valid, power
        size = valid.shape
        self.color_sum = np.zeros(size + (3,))
        self.weight_sum = np.zeros(size)
        self.best_cos = np.zeros(size)

    def add_view(self, image: np.ndarray, camera: dict, depth_plane) -> dict:
        """Bake one view (image (H, W, 3+) floats 0..1, top row first). Returns the view's visibility."""
        seen = texel_visibility(self.position, self.normal, self.valid, camera, depth_plane)
        weight = np.where(seen["visible"], weight_of(seen["cos"], self.power), 0.0)
        colour = sample_bilinear(np.asarray(image)[..., :3], seen["x"], seen["y"])
        self.color_sum += colour * weight[..., None]
        self.weight_sum += weight
        self.best_cos = np.maximum(self.best_cos, seen["cos"])
        return seen

    @property
    def coverage(self) -> np.ndarray:
        return self.weight_sum > 1e-8

    def texture(self, dilate: int = 2, fill=None) -> np.ndarray:
        """The baked colours (S, S, 3): weighted average where covered, grown `dilate` texels over the edges, the
        rest `fill` (default: the covered texels' mean colour, so holes do not read as black)."""
        covered = self.coverage
        colour = np.where(covered[..., None], self.color_sum / np.maximum(self.weight_sum, 1e-8)[..., None], 0.0)
        colour, grown = dilate_colors(colour, covered, dilate)
        if fill is None:
            fill = colour[covered].mean(axis=0) if covered.any() else np.full(3, 0.5)
        return np.where(grown[..., None], colour, np.asarray(fill, dtype=np.float64))


def dilate_colors(colour: np.ndarray, known: np.ndarray, steps: int) -> tuple:
    """Grow known texels outwards `steps` times: each unknown texel next to known ones takes their mean."""
    colour, known = colour.copy(), known.copy()
    for _ in range(max(0, steps)):
        total = np.zeros_like(colour)
        count = np.zeros(known.shape)
        padded_c = np.pad(colour * known[..., None], ((1, 1), (1, 1), (0, 0)))
        padded_k = np.pad(known.astype(np.float64), 1)
        h, w = known.shape
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                if dr == dc == 0:
                    continue
                total += padded_c[1 + dr:1 + dr + h, 1 + dc:1 + dc + w]
                count += padded_k[1 + dr:1 + dr + h, 1 + dc:1 + dc + w]
        new = (~known) & (count > 0)
        colour[new] = total[new] / count[new][:, None]
        known = known | new
    return colour, known


def sample_texture(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """A (S, S, C) texture (top row first) at UVs (..., 2), bilinear."""
    size_v, size_u = texture.shape[:2]
    return sample_bilinear(texture, uv[..., 0] * size_u, (1.0 - uv[..., 1]) * size_v)


def reproject(acc: Accumulator, view: dict, grazing_cos: float, background=0.5) -> tuple:
    """What earlier views painted, seen from the next camera: the init image (H, W, 3) and the inpaint mask (H, W,
    1.0 = paint here) — the mesh's pixels whose texel no view covered yet, or saw only at a grazing angle
    (best n·v below grazing_cos). view: rasterize_view's answer for the next camera."""
    on_mesh = view["mask"]
    texture = acc.texture(dilate=1)
    init = np.where(on_mesh[..., None], sample_texture(texture, view["uv"]), background)
    best = sample_texture(acc.best_cos[..., None], view["uv"])[..., 0]
    covered = sample_texture(acc.coverage[..., None].astype(np.float64), view["uv"])[..., 0]
    mask = on_mesh & ((covered < 0.5) | (best < grazing_cos))
    init = np.where(mask[..., None], background, init)
    return init, mask.astype(np.float64)
