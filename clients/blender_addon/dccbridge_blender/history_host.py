"""History on the main thread: start a ListJobs page (transport.list_jobs, in a thread), then a bpy.app.timers
callback turns the answer into rows and thumbnail images on the window manager. Panels only read the rows."""

from __future__ import annotations

import json
import queue
import time

import bpy

from . import apply, history

POLL_S = 0.1
_answers: queue.Queue = queue.Queue()
_threads: list = []


def state():
    return bpy.context.window_manager.dccbridge.history


def refresh(settings, scene, page: str = "FIRST") -> None:
    """page: FIRST, NEXT (the token of the last answer) or PREVIOUS (the page before this one)."""
    from . import transport

    rt, filters = state(), scene.dccbridge.history
    earlier = json.loads(rt.earlier_tokens or "[]")
    if page == "NEXT":
        if not rt.next_page_token:
            raise ValueError("History: this is the last page")
        earlier.append(rt.page_token)
        token = rt.next_page_token
    elif page == "PREVIOUS":
        if not earlier:
            raise ValueError("History: this is the first page")
        token = earlier.pop()
    else:
        earlier, token = [], ""
    request = history.list_request(filters.page_size, token, filters.all_clients, filters.text,
                                   thumbnail_size=filters.thumbnail_size)
    rt.earlier_tokens = json.dumps(earlier)
    rt.page = len(earlier)
    rt.busy, rt.error, rt.status = True, "", f"loading page {rt.page + 1}…"
    _threads.append(transport.list_jobs(settings, request, _answers))
    if not bpy.app.timers.is_registered(_pump):
        bpy.app.timers.register(_pump, first_interval=POLL_S)


def _show(answer: dict) -> None:
    rt = state()
    rt.busy = False
    if answer["type"] == "error":
        rt.error, rt.status = answer["message"], "history failed"
        return
    rt.items.clear()
    rt.page_token, rt.next_page_token = answer["page_token"], answer["next_page_token"]
    for job in answer["jobs"]:
        row = history.job_row(job)
        item = rt.items.add()
        for key in ("job_id", "state", "kind", "prompt", "model", "seed", "controls", "client"):
            setattr(item, key, row[key])
        item.created = time.strftime("%Y-%m-%d %H:%M", time.localtime(row["created_ms"] / 1000))
        item.row_json, item.task_hex = history.row_json(row), row["task"].hex()
        if row["thumbnail"]:
            item.thumbnail = _thumbnail(row["job_id"], row["thumbnail"])
    rt.index = min(rt.index, max(0, len(rt.items) - 1))
    more = " · more" if rt.next_page_token else ""
    rt.status = f"page {rt.page + 1}: {len(rt.items)} jobs{more}"


def _thumbnail(job_id: str, data: bytes):
    name = f"DCC history {job_id[:12]}"
    image = bpy.data.images.get(name)
    if image is None:
        image = apply.image_from_bytes(data, name)
    image.preview_ensure()
    return image


def drain() -> int:
    count = 0
    while True:
        try:
            answer = _answers.get_nowait()
        except queue.Empty:
            break
        _show(answer)
        count += 1
    if count:
        for window in bpy.context.window_manager.windows:
            for area in window.screen.areas:
                if area.type == "VIEW_3D":
                    area.tag_redraw()
    return count


def busy() -> bool:
    _threads[:] = [t for t in _threads if t.is_alive()]
    return bool(_threads) or not _answers.empty()


def _pump():
    try:
        drain()
    except Exception as error:  # noqa: BLE001 - a timer that raises is unregistered
        print("dccbridge: history error:", error)
    return POLL_S if busy() else None


def wait_idle(timeout_s: float = 30.0) -> bool:
    """Background mode and scripts, where timers do not fire: drain until the page is shown."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        drain()
        if not busy():
            return True
        time.sleep(0.05)
    return False


def row(job_id: str) -> dict:
    item = next((i for i in state().items if i.job_id == job_id), None)
    if item is None:
        raise ValueError(f"History: job {job_id} is not on this page (refresh)")
    out = json.loads(item.row_json)
    out["task"] = bytes.fromhex(item.task_hex)
    return out
