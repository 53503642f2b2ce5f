"""The Unity core's history (issue 19) across a server restart: the NUnit fixture HistoryTests.RecordThenRecall
records a job on one server process (DCCBRIDGE_HISTORY_PHASE=record) and, after the server is stopped and a new one
started on the same data directory, finds it in ListJobs with its thumbnail, re-applies it (GetJob: the very pixels)
and re-runs it with the same seed (=recall). The rest of HistoryTests runs with every other Unity core test in
tests/test_unity_core.py; here the whole fixture runs once more on the restarted server."""

from __future__ import annotations

import os
import subprocess

from conftest import running_server
from test_unity_core import TOKEN, UNITY, _compile, _sources, _summary, _tools_or_skip


def _nunit(tmp_path, dll, server, phase: str, test: str) -> tuple[int, int, int, list[str], str]:
    env = {**os.environ, "DCCBRIDGE_HTTP_URL": f"http://127.0.0.1:{server.http_port}", "DCCBRIDGE_TOKEN": TOKEN,
           "DCCBRIDGE_HISTORY_PHASE": phase, "DCCBRIDGE_HISTORY_FILE": str(tmp_path / "recorded.txt")}
    xml = tmp_path / f"{phase}.xml"
    run = subprocess.run(["nunit-console", "-nologo", "-labels", f"-run={test}", f"-xml={xml}", str(dll)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    return (*_summary(xml), run.stdout[-3000:] + run.stderr[-1000:])


def test_history_survives_a_server_restart_and_re_applies_and_re_runs_there(tmp_path):
    _tools_or_skip()
    dll = tmp_path / "DccBridge.Tests.dll"
    _compile(dll, _sources(UNITY / "Runtime" / "Core") + _sources(UNITY / "Tests" / "Runtime"), "-pkg:nunit")
    with running_server(tmp_path / "data", http_port=0, token=TOKEN) as server:
        passed, failed, _, failures, out = _nunit(tmp_path, dll, server, "record",
                                                  "DccBridge.Tests.HistoryTests.RecordThenRecall")
        assert (passed, failed) == (1, 0), "\n".join(failures) + out
    recorded = (tmp_path / "recorded.txt").read_text().split("\n")
    assert len(recorded[1]) > 0 and len(recorded[2]) > 1000  # client, job id, the image's pixels
    with running_server(tmp_path / "data", http_port=0, token=TOKEN) as server:  # a new process, same data dir
        passed, failed, not_run, failures, out = _nunit(tmp_path, dll, server, "recall", "DccBridge.Tests.HistoryTests")
    print(f"recall on the restarted server: {passed} passed, {failed} failed")
    assert failed == 0 and not_run == 0, "\n".join(failures) + out
    assert passed == 6, out
