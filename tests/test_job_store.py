"""The job store's one interface on both engines (a SQLite file, a real PostgreSQL): the same statements give the
same answers, two nodes never claim the same job, a node that lost a job cannot overwrite it, events keep only the
newest progress, and a store that cannot be opened says why."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from dccbridge.jobs.index import StoreError, open_index, redact
from dccbridge.jobs.store import JobStore, open_store

from postgres_support import postgres, store_url  # noqa: F401 (fixtures)


def job_row(job_id: str, created_ms: int, client: str = "c") -> dict:
    return {"job_id": job_id, "state": "queued", "task_type": "generate", "model_id": "tiny", "label": "",
            "client": client, "created_ms": created_ms, "task_json": "{}", "payload": b"\x00inputs\xff",
            "options_json": ""}


def node(tmp_path, url: str, name: str, lease_s: float = 30.0) -> JobStore:
    return open_store(tmp_path / name, url, tmp_path / "results", node_id=name, lease_s=lease_s)


def test_rows_round_trip_and_list_in_order(tmp_path, store_url):
    store = node(tmp_path, store_url, "a")
    try:
        for i, job_id in enumerate(("j1", "j2", "j3")):
            store.insert(job_row(job_id, 1000 + (i // 2)))  # j1 and j2 share a millisecond: insertion breaks ties
        assert [row["job_id"] for row in store.list(10, 0)] == ["j3", "j2", "j1"]
        assert [row["job_id"] for row in store.list(1, 1)] == ["j2"]
        assert [row["job_id"] for row in store.unfinished()] == ["j1", "j2", "j3"]
        assert bytes(store.unfinished()[0]["payload"]) == b"\x00inputs\xff"
        assert store.update("j1", state="running", started_ms=5, attempts=1)
        assert store.finish("j2", state="succeeded", finished_ms=9, result_json='{"images": []}')
        assert [row["job_id"] for row in store.list(10, 0, ["running", "succeeded"])] == ["j2", "j1"]
        assert store.count_by_state() == {"queued": 1, "running": 1, "succeeded": 1}
        j2 = store.get("j2")
        assert (j2["state"], j2["finished_ms"], j2["owner"]) == ("succeeded", 9, "a")
        assert "payload" not in j2 and [row["job_id"] for row in store.unfinished()] == ["j1", "j3"]
        assert store.get("nope") is None
        url = store.put_result("j2", "00-image-1.png", b"png bytes")
        assert open(url, "rb").read() == b"png bytes" and store.storage.exists("j2/00-image-1.png")
    finally:
        store.close()


def test_a_node_takes_over_only_when_the_lease_expired_and_the_old_owner_is_fenced(tmp_path, store_url):
    a = node(tmp_path, store_url, "a", lease_s=0.5)
    b = node(tmp_path, store_url, "b", lease_s=30)
    try:
        for i in range(3):
            a.insert(job_row(f"j{i}", 1000 + i))
        a.update("j0", state="running", attempts=1)
        assert b.claim(include_own=False) == []  # a's lease holds
        assert a.renew() == {"j0", "j1", "j2"}
        time.sleep(0.7)  # a stops renewing
        taken = b.claim(include_own=False)
        assert [(row["job_id"], row["state"], row["attempts"]) for row in taken] == \
            [("j0", "running", 1), ("j1", "queued", 0), ("j2", "queued", 0)]
        assert all(bytes(row["payload"]) == b"\x00inputs\xff" for row in taken)
        assert a.renew() == set()
        assert not a.finish("j0", state="succeeded", finished_ms=1)  # fenced: b holds it
        assert b.finish("j0", state="succeeded", finished_ms=2)
        assert b.get("j0")["finished_ms"] == 2
        assert b.claim(include_own=False) == []  # b's own jobs are not claimed again
        assert [row["job_id"] for row in b.claim(include_own=True)] == ["j1", "j2"]  # a restart takes its own
        assert b.release() == 2 and b.get("j1")["owner"] == ""
    finally:
        a.close()
        b.close()


def test_two_nodes_claiming_at_once_split_the_jobs(tmp_path, store_url):
    a = node(tmp_path, store_url, "a")
    for i in range(40):
        a.insert(job_row(f"j{i:02d}", 1000 + i))
    a.release()
    claimers = [node(tmp_path, store_url, f"n{i}") for i in range(3)]
    got: dict[str, list[str]] = {}
    start = threading.Barrier(len(claimers))

    def claim(store: JobStore) -> None:
        start.wait()
        got[store.node_id] = [row["job_id"] for row in store.claim(include_own=False)]

    threads = [threading.Thread(target=claim, args=(store,)) for store in claimers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        claimed = [job_id for ids in got.values() for job_id in ids]
        assert sorted(claimed) == [f"j{i:02d}" for i in range(40)]  # each job once, none lost
        for store in claimers:
            assert {row["job_id"] for row in store.unfinished() if row["owner"] == store.node_id} == \
                set(got[store.node_id])
    finally:
        for store in [a, *claimers]:
            store.close()


def test_events_keep_the_newest_progress_and_only_the_owner_writes_them(tmp_path, store_url):
    a = node(tmp_path, store_url, "a")
    b = node(tmp_path, store_url, "b")
    try:
        a.insert(job_row("j", 1))

        def event(sequence, kind, preview=None):
            return {"job_id": "j", "sequence": sequence, "time_ms": sequence, "kind": kind, "body_json": "{}",
                    "preview": preview}

        for sequence, kind in enumerate(("queued", "queued", "started", "progress", "progress"), start=1):
            a.add_event(event(sequence, kind, b"\xffjpeg" if kind == "progress" else None))
        b.add_event(event(6, "result"))  # not b's job: ignored
        assert [(e["sequence"], e["kind"]) for e in b.events_after("j", 0)] == \
            [(2, "queued"), (3, "started"), (5, "progress")]
        assert bytes(b.events_after("j", 4)[0]["preview"]) == b"\xffjpeg"
        a.add_event(event(6, "result"))
        assert [e["kind"] for e in b.latest_events("j")] == ["queued", "started", "progress", "result"]
        assert b.request_cancel("j", "changed my mind")
        assert a.cancel_requests() == [("j", "changed my mind")] and b.cancel_requests() == []
    finally:
        a.close()
        b.close()


def test_a_store_that_cannot_open_says_why(tmp_path, postgres, monkeypatch):  # noqa: F811
    with pytest.raises(ValueError, match="sqlite:///PATH"):
        open_index("sqlite://relative.db")
    with pytest.raises(ValueError, match="unknown job store 'mysql://u:\\*\\*\\*@h/db'"):
        open_index("mysql://u:secret@h/db")
    assert redact("postgresql://u:secret@h:5/db") == "postgresql://u:***@h:5/db"
    closed = postgres.url().replace(str(postgres.port), "1")
    with pytest.raises(StoreError, match="cannot reach the job store postgresql://dccb@127.0.0.1:1/postgres"):
        open_index(closed)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the cluster extra were not installed
    with pytest.raises(StoreError, match=r"dccbridge\[cluster\]"):
        open_index(postgres.url())
