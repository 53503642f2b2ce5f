"""History and workspaces scenarios, run INSIDE real Blender by tests/blender/scenarios.py (SCENARIO "history"):
they use its helpers through `h` and write what they measured into h.RESULT."""

import os
import time

import bpy


def bind(name: str, helpers):
    scenario = globals()["scenario_" + name]
    return lambda addon: scenario(addon, helpers)


def _pixels(image):
    import numpy as np

    px = np.empty(image.size[0] * image.size[1] * 4, np.float32)
    image.pixels.foreach_get(px)
    return px


def _page(addon, h, page="FIRST"):
    history_host = h.addon_module("history_host")
    assert bpy.ops.dccbridge.history_refresh(page=page) == {"FINISHED"}
    assert history_host.wait_idle(30), "ListJobs did not answer"
    rt = bpy.context.window_manager.dccbridge.history
    assert not rt.error, rt.error
    return [{"job_id": i.job_id, "seed": i.seed, "prompt": i.prompt, "kind": i.kind, "state": i.state,
             "controls": i.controls, "client": i.client, "model": i.model,
             "thumbnail": list(i.thumbnail.size) if i.thumbnail else None} for i in rt.items]


def _run(addon, h, op, **kwargs):
    """Run a job operator to the end; the image its job made (found by the job id in its provenance)."""
    before = {i.as_pointer() for i in bpy.data.images}   # not names: a new image can take an old one's name
    assert op(**kwargs) == {"FINISHED"}
    handle = addon.jobs.handles()[-1]
    rt = h.wait(addon)
    assert not rt.error, rt.error
    made = [i for i in bpy.data.images if i.as_pointer() not in before and i.get("dccbridge_job_id") == handle.job_id]
    assert len(made) == 1, (handle.job_id, [(i.name, i.get("dccbridge_job_id")) for i in bpy.data.images])
    return made[0]


def scenario_history(addon, h):
    """Two jobs from the scene (one with a depth unit), the workspace saved with the .blend; the server restarts
    (same data directory) and the file is opened again; the History workspace pages through this client's jobs
    with thumbnails, filters by text, shows every client's; Re-apply brings the same pixels, Re-run the same seed
    the same pixels (the depth map recaptured), a new seed other pixels; a Depth2Img job cannot re-run (its image
    was not kept) and says which input."""
    import numpy as np

    r = h.RESULT
    s = h.settings(size=64, steps=2, seed=1234)
    s.unit_depth.enabled = True
    first = _run(addon, h, bpy.ops.dccbridge.generate)
    s.unit_depth.enabled = False
    s.prompt, s.seed = "second prompt", 77
    second = _run(addon, h, bpy.ops.dccbridge.generate)
    originals = {"depth": _pixels(first), "second": _pixels(second)}
    s.workspace = "HISTORY"
    s.history.page_size = 1
    s.history.thumbnail_size = 48
    path = h.OUT + ".blend"
    bpy.ops.wm.save_as_mainfile(filepath=path)
    with open(h.OUT + ".saved", "w") as f:
        f.write("\n".join(j.job_id for j in s.jobs))
    deadline = time.monotonic() + 120
    while not os.path.exists(h.OUT + ".restarted") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert os.path.exists(h.OUT + ".restarted"), "the test did not restart the server"
    bpy.ops.wm.open_mainfile(filepath=path)
    s = bpy.context.scene.dccbridge
    r["reloaded_workspace"] = s.workspace
    r["reloaded_history"] = [s.history.page_size, s.history.thumbnail_size]
    r["ui"] = {}
    for workspace in ("GENERATE", "LIVE", "UPSCALE", "TEXTURE", "HISTORY"):
        s.workspace = workspace
        panels = [c.bl_label for c in addon.CLASSES if issubclass(c, bpy.types.Panel)
                  and getattr(c, "bl_parent_id", "") == "DCCBRIDGE_PT_main" and c.poll(bpy.context)]
        r["ui"][workspace] = panels
    s.workspace = "HISTORY"

    rt = bpy.context.window_manager.dccbridge.history
    r["pages"] = [_page(addon, h)]
    r["first_has_next"] = bool(rt.next_page_token)
    r["pages"].append(_page(addon, h, "NEXT"))
    r["second_has_next"] = bool(rt.next_page_token)
    r["back"] = _page(addon, h, "PREVIOUS")
    r["drawn"] = h.draw_every_panel(addon, h.ADDON_MODULE)
    s.history.page_size = 10
    s.history.text = "SECOND"
    r["text_filtered"] = _page(addon, h)
    s.history.text = ""
    r["mine"] = _page(addon, h)
    s.history.all_clients = True
    r["all"] = _page(addon, h)
    s.history.all_clients = False
    mine = {row["prompt"]: row for row in _page(addon, h)}
    depth_id, second_id = mine["a test scene"]["job_id"], mine["second prompt"]["job_id"]

    reapplied = _run(addon, h, bpy.ops.dccbridge.history_reapply, job_id=second_id)
    r["reapply_equal"] = bool(np.array_equal(_pixels(reapplied), originals["second"]))
    r["reapply_props"] = h.provenance(reapplied)
    same = _run(addon, h, bpy.ops.dccbridge.history_rerun, job_id=second_id, new_seed=False)
    r["rerun_same_seed_max_diff"] = float(np.abs(_pixels(same) - originals["second"]).max())
    r["rerun_same_props"] = h.provenance(same)
    new = _run(addon, h, bpy.ops.dccbridge.history_rerun, job_id=second_id, new_seed=True)
    r["rerun_new_seed_max_diff"] = float(np.abs(_pixels(new) - originals["second"]).max())
    r["rerun_new_props"] = h.provenance(new)
    depth = _run(addon, h, bpy.ops.dccbridge.history_rerun, job_id=depth_id, new_seed=False)
    r["rerun_depth_max_diff"] = float(np.abs(_pixels(depth) - originals["depth"]).max())
    r["rerun_depth_vs_second"] = float(np.abs(_pixels(depth) - originals["second"]).max())

    r["records"] = [[j.job_id, j.state, j.result_names] for j in s.jobs]
    # Use settings: the job's prompt and seed back into the scene, the Generate workspace.
    assert bpy.ops.dccbridge.history_use_settings(job_id=depth_id) == {"FINISHED"}
    r["used_settings"] = [s.prompt, s.seed_mode, s.seed, s.workspace]

    # A Depth2Img job's init image was not kept: re-run says which input to recapture.
    history = h.addon_module("history")
    requests = h.addon_module("requests")
    params = {"model": "", "prompt": "p", "width": 64, "height": 64, "steps": 2, "seed": 5, "strength": 0.5}
    task = requests.depth2img_task(params, b"", {"data": b"", "width": 8, "height": 8, "near": 0.1, "far": 10})
    try:
        history.rerun_task(task.SerializeToString(), 5)
        r["depth2img_rerun"] = "accepted"
    except ValueError as error:
        r["depth2img_rerun"] = str(error)
    pose = requests.generate_task(params, [{"type": "openpose", "weight": 1.0, "start": 0.0, "end": 1.0,
                                            "pose": {"width": 64, "height": 64, "people": [[(0.5, 0.5, 1)] * 18]}}])
    r["pose_stripped"] = history.stripped_inputs(pose)
