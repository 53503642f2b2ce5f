"""History (issue 19, server part): ListJobs filters on both index engines, paging with filters, thumbnails made
once and cached beside the result, the admin token's scope on both faces, and retention by age and total size."""

from __future__ import annotations

import json
import sqlite3

import grpc
import httpx
import pytest
from google.protobuf import json_format

from dccbridge.client import Client
from dccbridge.imaging import decode_image
from dccbridge.jobs.history import JobFilter
from dccbridge.jobs.index_sqlite import SqliteJobIndex
from dccbridge.jobs.store import open_store
from dccbridge.v1 import service_pb2

from conftest import generate_task, running_server
from postgres_support import postgres, store_url  # noqa: F401 (fixtures)

SERVICE = "dccbridge.v1.DccBridgeService"
TOKEN = "ordinary token"
ADMIN = "admin token"


def task_json(prompt: str, negative: str = "", kind: str = "txt2img") -> str:
    generate = {"prompt": prompt, "negative_prompt": negative}
    if kind == "img2img":
        generate["init_image"] = {"mime_type": "image/png"}
    if kind == "inpaint":
        generate["init_image"] = {}
        generate["mask_image"] = {}
    return json.dumps({"generate": generate})


def row(job_id: str, created_ms: int, *, client="alice", prompt="a red cube", negative="", kind="txt2img",
        label="", model_id="tiny", state="succeeded", task_type="generate") -> dict:
    return {"job_id": job_id, "state": state, "task_type": task_type, "model_id": model_id, "label": label,
            "client": client, "created_ms": created_ms, "finished_ms": created_ms + 5,
            "task_json": task_json(prompt, negative, kind) if task_type == "generate" else
            json.dumps({task_type: {"prompt": prompt}}), "options_json": ""}


def ids(rows) -> list[str]:
    return [r["job_id"] for r in rows]


# -- the index: every filter on SQLite and PostgreSQL --------------------------------------------------------


def test_filters_hold_on_both_engines_and_paging_keeps_them(tmp_path, store_url):  # noqa: F811
    store = open_store(tmp_path / "data", store_url, tmp_path / "results", node_id="a")
    try:
        store.insert(row("j1", 1000, prompt="A Red Cube", negative="blurry"))
        store.insert(row("j2", 2000, client="bob", prompt="blue sphere", kind="img2img", model_id="other"))
        store.insert(row("j3", 3000, prompt="green cone", kind="inpaint", label="Shot 42"))
        store.insert(row("j4", 4000, prompt="100% red_ish", task_type="depth2img", state="running"))
        store.insert(row("j5", 5000, client="bob", prompt="red barn"))
        listed = lambda **f: ids(store.list(10, 0, None, JobFilter(**f)))  # noqa: E731
        assert listed() == ["j5", "j4", "j3", "j2", "j1"]
        assert listed(client="bob") == ["j5", "j2"]
        assert listed(text="RED") == ["j5", "j4", "j1"]  # case-insensitive, prompt only
        assert listed(text="BLURRY") == ["j1"]  # the negative prompt
        assert listed(text="shot 4") == ["j3"]  # the label
        assert listed(text="100%") == ["j4"] and listed(text="d_i") == ["j4"]  # LIKE's wildcards are literal
        assert listed(text="0%") == ["j4"] and listed(text="%") == ["j4"] and listed(text="_") == ["j4"]
        assert listed(kinds=("img2img", "inpaint")) == ["j3", "j2"]
        assert listed(kinds=("txt2img",)) == ["j5", "j1"] and listed(kinds=("depth2img",)) == ["j4"]
        assert listed(created_after_ms=2000, created_before_ms=4000) == ["j3", "j2"]
        assert listed(model_id="other") == ["j2"]
        assert listed(client="bob", text="red") == ["j5"]
        assert listed(client="carol") == []
        assert ids(store.list(10, 0, ["succeeded"], JobFilter(text="red"))) == ["j5", "j1"]
        pages = [ids(store.list(2, offset, None, JobFilter(client="alice"))) for offset in (0, 2, 4)]
        assert pages == [["j4", "j3"], ["j1"], []]
    finally:
        store.close()


def test_an_old_sqlite_database_gets_the_history_columns(tmp_path):
    path = tmp_path / "jobs.sqlite3"
    db = sqlite3.connect(path)  # the schema before history: no search_text / task_kind columns
    db.execute("CREATE TABLE jobs (job_id TEXT PRIMARY KEY, state TEXT NOT NULL, task_type TEXT NOT NULL, "
               "model_id TEXT NOT NULL, label TEXT NOT NULL, client TEXT NOT NULL, created_ms INTEGER NOT NULL, "
               "started_ms INTEGER NOT NULL DEFAULT 0, finished_ms INTEGER NOT NULL DEFAULT 0, "
               "sequence INTEGER NOT NULL DEFAULT 0, task_json TEXT NOT NULL, result_json TEXT, failure_json TEXT, "
               "cancel_reason TEXT)")
    db.execute("INSERT INTO jobs (job_id, state, task_type, model_id, label, client, created_ms, task_json) "
               "VALUES ('old', 'succeeded', 'generate', 'tiny', 'My Label', 'alice', 1, ?)",
               (task_json("Old Castle", kind="img2img"),))
    db.commit()
    db.close()
    index = SqliteJobIndex(path)
    try:
        assert ids(index.list(5, 0, None, JobFilter(text="castle"))) == ["old"]
        assert ids(index.list(5, 0, None, JobFilter(text="my label", kinds=("img2img",)))) == ["old"]
        assert ids(index.list(5, 0, None, JobFilter(kinds=("txt2img",)))) == []
        names = {r[1] for r in index._db.execute("PRAGMA index_list(jobs)")}
        assert "jobs_client_created" in names
    finally:
        index.close()


# -- a real server: both faces ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def history_server(tmp_path_factory):
    with running_server(tmp_path_factory.mktemp("history"), http_port=0, token=TOKEN, admin_token=ADMIN) as srv:
        with Client(f"127.0.0.1:{srv.port}", client_name="alice", token=TOKEN) as alice, \
                Client(f"127.0.0.1:{srv.port}", client_name="bob", token=TOKEN) as bob:
            for who, prompt in ((alice, "A Red Cube"), (bob, "blue sphere"), (alice, "green cone")):
                events = list(who.run(generate_task(prompt=prompt, size=64, steps=2)))
                assert events[-1].WhichOneof("event") == "result"
        yield srv


def grpc_client(server, name: str, token: str) -> Client:
    return Client(f"127.0.0.1:{server.port}", client_name=name, token=token)


def connect(server, name: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{server.http_port}/{SERVICE}/", timeout=60,
                        headers={"authorization": f"Bearer {token}", "dccbridge-client": name})


def connect_list(server, name: str, token: str, **request) -> httpx.Response:
    with connect(server, name, token) as http:
        return http.post("ListJobs", json=json_format.MessageToDict(service_pb2.ListJobsRequest(**request)))


def prompts(jobs) -> list[str]:
    return [job.task.generate.prompt for job in jobs]


def test_filters_and_client_on_both_faces(history_server):
    with grpc_client(history_server, "alice", TOKEN) as alice:
        jobs = alice.list_jobs(text="RED").jobs
        assert prompts(jobs) == ["A Red Cube"] and jobs[0].client == "alice"
        assert prompts(alice.list_jobs(task_types=[service_pb2.TASK_TYPE_TXT2IMG]).jobs) == ["green cone",
                                                                                             "A Red Cube"]
        assert alice.list_jobs(task_types=[service_pb2.TASK_TYPE_IMG2IMG]).jobs == []
        assert alice.list_jobs(model_id="no-such-model").jobs == []
        first = alice.list_jobs().jobs
        assert alice.list_jobs(created_after_ms=first[0].created_ms).jobs[0].job_id == first[0].job_id
        page = alice.list_jobs(page_size=1)
        assert prompts(page.jobs) == ["green cone"] and page.next_page_token
        assert prompts(alice.list_jobs(page_size=1, page_token=page.next_page_token).jobs) == ["A Red Cube"]
        with pytest.raises(grpc.RpcError) as error:
            alice.list_jobs(created_after_ms=5, created_before_ms=5)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "created_before_ms" in error.value.details()
    response = connect_list(history_server, "alice", TOKEN, text="cone")
    assert response.status_code == 200, response.text
    body = response.json()
    assert [j["task"]["generate"]["prompt"] for j in body["jobs"]] == ["green cone"]
    assert body["jobs"][0]["client"] == "alice"


def test_thumbnails_are_small_made_once_and_cached_beside_the_result(history_server):
    with grpc_client(history_server, "alice", TOKEN) as alice:
        plain = alice.list_jobs()
        response = alice.list_jobs(thumbnail_size=32)
        for job in response.jobs:
            assert job.thumbnail.mime_type == "image/jpeg" and (job.thumbnail.width, job.thumbnail.height) == (32, 32)
            assert decode_image(job.thumbnail.data, "thumbnail").shape == (32, 32, 3)
            assert not any(image.image.data for image in job.result.images)  # never the full images
            cached = history_server.store.storage.path(f"{job.job_id}/") / (
                job.result.images[0].path.rsplit("/", 1)[-1] + ".thumb32.jpg")
            assert cached.read_bytes() == job.thumbnail.data
        assert response.ByteSize() < plain.ByteSize() + 2 * 1500  # two thumbnails of 32² JPEG, nothing more
        # The second call reads the cached file, not the PNG: a changed cache file is what comes back.
        job = response.jobs[0]
        cached = history_server.store.storage.path(f"{job.job_id}/{job.result.images[0].path.rsplit('/', 1)[-1]}"
                                                   ".thumb32.jpg")
        marker = job.thumbnail.data[:-2] + b"\x00\xff\xd9"
        cached.write_bytes(marker)
        assert alice.list_jobs(thumbnail_size=32).jobs[0].thumbnail.data == marker
        with pytest.raises(grpc.RpcError) as error:
            alice.list_jobs(thumbnail_size=513)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "thumbnail_size: must be at most 512" in error.value.details()
    body = connect_list(history_server, "alice", TOKEN, thumbnail_size=16).json()
    assert [(j["thumbnail"]["width"], j["thumbnail"]["mimeType"]) for j in body["jobs"]] == [(16, "image/jpeg")] * 2
    refused = connect_list(history_server, "alice", TOKEN, thumbnail_size=600)
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_argument"
    assert "thumbnail_size" in refused.json()["message"]


def test_the_admin_token_sees_every_client_the_ordinary_token_its_own(history_server):
    with grpc_client(history_server, "alice", TOKEN) as alice, grpc_client(history_server, "bob", TOKEN) as bob, \
            grpc_client(history_server, "ops", ADMIN) as admin:
        assert prompts(bob.list_jobs().jobs) == ["blue sphere"]
        assert prompts(admin.list_jobs().jobs) == ["green cone", "blue sphere", "A Red Cube"]
        assert prompts(admin.list_jobs(client="bob").jobs) == ["blue sphere"]
        assert prompts(alice.list_jobs(client="alice").jobs) == ["green cone", "A Red Cube"]
        with pytest.raises(grpc.RpcError) as error:
            alice.list_jobs(client="bob")
        assert error.value.code() == grpc.StatusCode.PERMISSION_DENIED and "admin token" in error.value.details()
        bobs = admin.list_jobs(client="bob").jobs[0].job_id
        assert admin.get_job(bobs, omit_image_data=True).client == "bob"
        for call in (lambda: alice.get_job(bobs), lambda: alice.cancel(bobs), lambda: list(alice.watch(bobs))):
            with pytest.raises(grpc.RpcError) as error:
                call()
            assert error.value.code() == grpc.StatusCode.NOT_FOUND
        assert bob.get_job(bobs, omit_image_data=True).job_id == bobs
        assert admin.capabilities().api_version == "v1"  # the admin token opens every call
        with pytest.raises(grpc.RpcError) as error:
            grpc_client(history_server, "eve", "wrong").list_jobs()
        assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert len(connect_list(history_server, "ops", ADMIN).json()["jobs"]) == 3
    assert len(connect_list(history_server, "bob", TOKEN).json()["jobs"]) == 1
    denied = connect_list(history_server, "bob", TOKEN, client="alice")
    assert denied.status_code == 403 and denied.json()["code"] == "permission_denied"
