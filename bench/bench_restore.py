"""Face restoration: the extra cost per face, per restorer architecture, measured side by side in one run.

Each restorer runs the real finishing step (ops/faces.py: detect, align, restore, paste back) on a 512x512 image
with 0, 1, 2 and 4 faces (--faces); the cost per face is the least-squares slope of time over faces, the detection cost the
0-face time. Restorers: the tiny preset's RestoreFormer (128-px faces) and full-size GFPGAN v1.4, RestoreFormer++
and (with the codeformer extra) CodeFormer built with random weights from spandrel's own architecture classes,
saved as .safetensors and loaded through the catalog like real weights (speed does not depend on weight values).
Faces are the tiny detector's bright squares (a real YuNet is not downloadable here; it costs a few ms per image).

    .venv/bin/python bench/bench_restore.py [--device cuda] [--repeats 3] [--only tiny,gfpgan] [--json OUT]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from _common import print_table, write_json
from dccbridge.domain import FaceRestorationSpec
from dccbridge.models.catalog import Catalog
from dccbridge.models.manager import ModelManager
from dccbridge.models.tiny_faces import build_tiny_restoreformer_state_dict
from dccbridge.ops import faces
from dccbridge.ops.context import NullContext
from dccbridge.ops.env import OpEnv
from dccbridge.ops.limits import Limits

DEFAULT_FACE_COUNTS = "0,1,2,4"
SIZE = 512
CELL = 32


def full_size_state_dicts(only: set[str]) -> dict[str, dict]:
    """Random-weight state dicts of the real architectures at their released sizes (as spandrel builds them)."""
    states = {}
    torch.manual_seed(0)
    if "gfpgan" in only:
        from spandrel.architectures.GFPGAN import GFPGAN

        states["gfpgan"] = GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None,
                                  fix_decoder=False, num_mlp=8, input_is_latent=True, different_w=True, narrow=1,
                                  sft_half=True).state_dict()
    if "restoreformer" in only:
        from spandrel.architectures.RestoreFormer import RestoreFormer

        states["restoreformer"] = RestoreFormer(
            n_embed=1024, embed_dim=256, ch=64, out_ch=3, ch_mult=(1, 2, 2, 4, 4, 8), num_res_blocks=2,
            attn_resolutions=(16,), dropout=0.0, in_channels=3, resolution=512, z_channels=256, double_z=False,
            enable_mid=True, head_size=8).state_dict()
    if "codeformer" in only:
        try:
            from spandrel_extra_arches.architectures.CodeFormer import CodeFormer
        except ImportError:
            print("codeformer: skipped (pip install 'dccbridge[codeformer]')")
        else:
            states["codeformer"] = CodeFormer(dim_embd=512, n_head=8, n_layers=9, codebook_size=1024,
                                              latent_size=256, connect_list=["32", "64", "128", "256"]).state_dict()
    return states


def catalog_file(folder: Path, only: set[str]) -> Path:
    tables = []
    if "tiny" in only:
        tables.append('[restorers.tiny]\nsource = "builtin:tiny-restoreformer"\nface_size = 128\n')
    for name, state in full_size_state_dicts(only).items():
        save_file({k: v.contiguous() for k, v in state.items()}, folder / f"{name}.safetensors")
        tables.append(f'[restorers.{name}]\nsource = "{name}.safetensors"\n')
    body = "".join(t + 'license = "bench"\ncommercial_use = true\n' for t in tables)
    path = folder / "catalog.toml"
    path.write_text('[models.tiny]\nsource = "builtin:tiny"\n' + body +
                    '[face_detectors.tiny]\nsource = "builtin:tiny-yunet"\nlicense = "MIT"\ncommercial_use = true\n')
    return path


def image_with_faces(count: int) -> np.ndarray:
    """Dark 512x512 with `count` bright 32-px squares on separate cells of the detector's grid."""
    image = np.full((SIZE, SIZE, 3), 20, np.uint8)
    for i in range(count):
        x, y = CELL * (2 + 4 * (i % 3)), CELL * (2 + 4 * (i // 3))
        image[y:y + CELL, x:x + CELL] = 220
    return image


def measure(env: OpEnv, restorer_id: str, repeats: int, counts: tuple[int, ...]) -> dict:
    spec = FaceRestorationSpec(restorer_id=restorer_id)
    ctx = NullContext()
    faces.restore_faces(image_with_faces(1), spec, env, ctx)  # load and warm up
    times = {}
    for count in counts:
        image = image_with_faces(count)
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            restored = faces.restore_faces(image, spec, env, ctx)
            runs.append(time.perf_counter() - started)
        assert len(restored.faces) == count, (restorer_id, count, len(restored.faces))
        times[count] = statistics.median(runs)
    xs, ys = np.array(counts, float), np.array([times[c] for c in counts])
    slope = float(np.polyfit(xs, ys, 1)[0])
    loaded = env.manager.faces.restorer(restorer_id)
    params = sum(p.numel() for p in loaded.descriptor.model.parameters())
    return {"restorer": restorer_id, "architecture": loaded.architecture, "face_size": loaded.entry.face_size,
            "params_m": round(params / 1e6, 1), "seconds_per_face": round(slope, 4),
            "detect_and_no_face_s": round(times[0], 4), **{f"s_{c}_faces": round(times[c], 4) for c in counts}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="tiny,gfpgan,restoreformer,codeformer")
    parser.add_argument("--faces", default=DEFAULT_FACE_COUNTS, help="face counts to time (0 first; default 0,1,2,4)")
    parser.add_argument("--json", type=Path, metavar="OUT")
    args = parser.parse_args()
    only = set(args.only.split(","))
    counts = tuple(int(c) for c in args.faces.split(","))
    with tempfile.TemporaryDirectory(prefix="dccbridge-bench-restore-") as folder:
        manager = ModelManager(Catalog.from_toml(catalog_file(Path(folder), only)), device=args.device)
        env = OpEnv(manager, Limits())
        rows = []
        for restorer_id in manager.catalog.faces.restorers:
            rows.append(measure(env, restorer_id, args.repeats, counts))
            print(f"{restorer_id}: {rows[-1]['seconds_per_face']} s per face", flush=True)
    print(f"device {manager.describe_device()['name']} ({args.device}), torch threads {torch.get_num_threads()}, "
          f"{SIZE}x{SIZE} image, median of {args.repeats}")
    headers = list(rows[0])
    print_table(headers, [[row[h] for h in headers] for row in rows])
    write_json(args.json, {"rows": rows, "device": args.device, "threads": torch.get_num_threads()})


if __name__ == "__main__":
    main()
