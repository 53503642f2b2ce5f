"""The HTTP/1.1 face against a real server: Connect (JSON and binary, unary and streaming) and gRPC-Web calls made
by hand the way curl would make them, the same answers and errors as the gRPC face, jobs crossing faces, token,
TLS, CORS, message limits, and the real @connectrpc/connect-web client under Node."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import os
import re
import shutil
import signal
import ssl
import struct
import subprocess
import sys
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from dccbridge import cli
from dccbridge.api.security import is_loopback
from dccbridge.client import Client
from dccbridge.v1 import jobs_pb2, service_pb2

from conftest import SERVING, generate_task, running_server

ROOT = Path(__file__).resolve().parent.parent
NODE_TESTS = ROOT / "tests" / "node"
SERVICE = "dccbridge.v1.DccBridgeService"
TOKEN = "correct horse battery staple"
SMALL_LIMIT = 2 * 1024 * 1024
PLUGIN_ORIGIN = "http://plugin.example"


# -- the wire, by hand ------------------------------------------------------------------------------


def envelope(payload: bytes, flags: int = 0) -> bytes:
    """Connect streaming and gRPC-Web frame: 1 flag byte, 4-byte big-endian length, the message."""
    return struct.pack(">BI", flags, len(payload)) + payload


def frames(body: bytes) -> list[tuple[int, bytes]]:
    out, i = [], 0
    while i < len(body):
        flags, length = struct.unpack(">BI", body[i:i + 5])
        out.append((flags, body[i + 5:i + 5 + length]))
        i += 5 + length
    assert i == len(body), "a truncated frame"
    return out


END_STREAM = 0x02  # Connect: the last frame, a JSON object with an optional error
GRPC_WEB_TRAILERS = 0x80


def connect_stream(http: httpx.Client, method: str, message: dict) -> tuple[list[dict], dict]:
    """A server-streaming call in Connect's JSON envelope format: (messages, end-of-stream object)."""
    response = http.post(method, content=envelope(json.dumps(message).encode()),
                         headers={"content-type": "application/connect+json"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/connect+json"
    parsed = frames(response.content)
    assert [flags for flags, _ in parsed[:-1]] == [0] * (len(parsed) - 1) and parsed[-1][0] == END_STREAM
    return [json.loads(payload) for _, payload in parsed[:-1]], json.loads(parsed[-1][1])


def grpc_web_call(http: httpx.Client, method: str, request) -> tuple[list[bytes], dict[str, str]]:
    """A gRPC-Web call with binary protobuf: (message payloads, status trailers)."""
    response = http.post(method, content=envelope(request.SerializeToString()),
                         headers={"content-type": "application/grpc-web+proto", "x-grpc-web": "1"})
    assert response.status_code == 200
    messages, trailers = [], {k: v for k, v in response.headers.items() if k.startswith("grpc-")}
    for flags, payload in frames(response.content):
        if flags & GRPC_WEB_TRAILERS:
            for line in payload.decode().strip().split("\r\n"):
                key, _, value = line.partition(":")
                trailers[key.strip().lower()] = value.strip()
        else:
            messages.append(payload)
    return messages, trailers


def kinds(events: list[dict]) -> list[str]:
    return [next(k for k in ("queued", "started", "progress", "result", "failed", "cancelled") if k in e)
            for e in events]


def generate_json(steps=2, size=64, seed=1, **fields) -> dict:
    return {"task": {"generate": {"prompt": "a red cube", "width": size, "height": size,
                                  "sampling": {"numInferenceSteps": steps, "seed": seed}, **fields}}}


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=f"http://127.0.0.1:{server.http_port}/{SERVICE}/", timeout=120) as c:
        yield c


# -- Connect and gRPC-Web ---------------------------------------------------------------------------


def test_capabilities_over_connect_json_are_the_grpc_faces(http, client, server):
    response = http.post("GetCapabilities", json={})
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["apiVersion"] == "v1" and body["limits"]["maxMessageBytes"] == str(64 * 1024 * 1024)
    assert json_format.Parse(response.text, service_pb2.GetCapabilitiesResponse()) == client.capabilities()


def test_binary_protobuf_unary(http):
    response = http.post("GetCapabilities", content=service_pb2.GetCapabilitiesRequest().SerializeToString(),
                         headers={"content-type": "application/proto"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/proto"
    caps = service_pb2.GetCapabilitiesResponse.FromString(response.content)
    assert caps.api_version == "v1" and caps.default_model_id == "tiny"


def test_run_streams_events_in_connect_envelopes(http):
    events, end = connect_stream(http, "Run", generate_json(steps=2, seed=21))
    assert end == {}
    assert kinds(events)[:2] == ["queued", "started"] and kinds(events)[-1] == "result"
    assert [int(e["sequence"]) for e in events] == list(range(1, len(events) + 1))
    (image,) = events[-1]["result"]["images"]
    assert image["seed"] == "21" and base64.b64decode(image["image"]["data"])[:4] == b"\x89PNG"


def test_grpc_web_unary_and_error(http):
    messages, trailers = grpc_web_call(http, "GetCapabilities", service_pb2.GetCapabilitiesRequest())
    assert trailers["grpc-status"] == "0"
    assert service_pb2.GetCapabilitiesResponse.FromString(messages[0]).api_version == "v1"
    messages, trailers = grpc_web_call(http, "Submit", service_pb2.SubmitRequest(task=generate_task(size=100)))
    assert not messages and trailers["grpc-status"] == str(grpc.StatusCode.INVALID_ARGUMENT.value[0])
    assert urllib.parse.unquote(trailers["grpc-message"]) == "width: must be a multiple of 8, got 100"
    assert trailers["dccbridge-field"] == "width"


ERROR_CASES = {
    "size not a multiple of 8": ("Submit", service_pb2.SubmitRequest(task=generate_task(size=100))),
    "unknown model": ("Submit", service_pb2.SubmitRequest(task=generate_task(model_id="nope"))),
    "unknown job": ("GetJob", service_pb2.GetJobRequest(job_id="no-such-job")),
    "wait too long": ("GetJob", service_pb2.GetJobRequest(job_id="x", wait_ms=60_001)),
    "page too large": ("ListJobs", service_pb2.ListJobsRequest(page_size=501)),
}


@pytest.mark.parametrize("case", ERROR_CASES)
def test_errors_are_the_same_on_both_faces(case, http, client):
    method, request = ERROR_CASES[case]
    with pytest.raises(grpc.RpcError) as grpc_error:
        getattr(client.stub, method)(request)
    response = http.post(method, json=json_format.MessageToDict(request))
    assert response.status_code >= 400
    body = response.json()
    assert body["code"] == grpc_error.value.code().name.lower()
    assert body["message"] == grpc_error.value.details()
    grpc_field = dict(grpc_error.value.trailing_metadata() or ()).get("dccbridge-field")
    assert response.headers.get("trailer-dccbridge-field") == grpc_field


# -- one engine behind both faces -------------------------------------------------------------------


def test_a_job_submitted_on_grpc_is_watched_and_fetched_over_http(client, http):
    job = client.submit(generate_task(steps=2, seed=31))
    events, end = connect_stream(http, "Watch", {"jobId": job.job_id})
    assert end == {} and kinds(events)[-1] == "result"
    assert json_format.ParseDict(events[-1], jobs_pb2.JobEvent()) == list(client.watch(job.job_id))[-1]
    fetched = http.post("GetJob", json={"jobId": job.job_id}).json()["job"]
    assert fetched["state"] == "JOB_STATE_SUCCEEDED"
    assert base64.b64decode(fetched["result"]["images"][0]["image"]["data"]) == \
        client.get_job(job.job_id).result.images[0].image.data


def test_a_job_submitted_over_http_is_watched_and_fetched_on_grpc(client, http):
    job = http.post("Submit", json=generate_json(seed=32)).json()["job"]
    assert job["state"] in ("JOB_STATE_QUEUED", "JOB_STATE_RUNNING")
    events = list(client.watch(job["jobId"]))
    assert events[-1].WhichOneof("event") == "result" and events[-1].result.images[0].seed == 32
    fetched = http.post("GetJob", json={"jobId": job["jobId"]}).json()["job"]
    assert base64.b64decode(fetched["result"]["images"][0]["image"]["data"]) == \
        client.get_job(job["jobId"]).result.images[0].image.data


def test_get_job_long_poll_over_http_sees_progress_previews_and_result(http):
    job = http.post("Submit", json={**generate_json(steps=3), "options": {"previewEveryNSteps": 1}}).json()["job"]
    steps, previews = [], 0
    while job["state"] in ("JOB_STATE_QUEUED", "JOB_STATE_RUNNING"):
        job = http.post("GetJob", json={"jobId": job["jobId"], "waitMs": 10_000,
                                        "afterSequence": job["sequence"]}).json()["job"]
        progress = job.get("progress", {})
        if progress.get("stage") == "denoise":
            steps.append(progress.get("step", 0))
            if "preview" in progress:
                previews += 1
                assert base64.b64decode(progress["preview"]["data"])[:2] == b"\xff\xd8"
    assert job["state"] == "JOB_STATE_SUCCEEDED" and steps[-1] == 3 and previews
    assert base64.b64decode(job["result"]["images"][0]["image"]["data"])[:4] == b"\x89PNG"
    started = time.monotonic()  # a long-poll on a finished job answers at once
    http.post("GetJob", json={"jobId": job["jobId"], "waitMs": 30_000, "afterSequence": job["sequence"]})
    assert time.monotonic() - started < 5


def test_a_waiting_long_poll_leaves_the_event_loop_free(http):
    job = http.post("Submit", json=generate_json(steps=150, size=128)).json()["job"]
    with httpx.Client(base_url=http.base_url, timeout=30) as other, ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(other.post, "GetJob", json={"jobId": job["jobId"], "waitMs": 3000,
                                                           "afterSequence": str(10**9)})
        time.sleep(0.2)
        started = time.monotonic()
        assert http.post("GetCapabilities", json={}).status_code == 200
        assert time.monotonic() - started < 1 and not waiting.done()
        assert waiting.result().status_code == 200
    http.post("Cancel", json={"jobId": job["jobId"]})


def test_cancel_over_http(http):
    job = http.post("Submit", json=generate_json(steps=150, size=128)).json()["job"]
    cancelled = http.post("Cancel", json={"jobId": job["jobId"]}).json()["job"]
    assert cancelled["jobId"] == job["jobId"]
    events, _ = connect_stream(http, "Watch", {"jobId": job["jobId"]})
    assert kinds(events)[-1] == "cancelled"


def test_closing_a_run_stream_with_cancel_on_disconnect_cancels_the_job(server, http, client):
    request = {**generate_json(steps=150, size=128), "options": {"cancelOnDisconnect": True}}
    with httpx.Client(timeout=60) as own:  # its own connection, to hang up on
        with own.stream("POST", f"{http.base_url}Run", content=envelope(json.dumps(request).encode()),
                        headers={"content-type": "application/connect+json"}) as response:
            buffer = b""
            for chunk in response.iter_bytes():
                buffer += chunk
                events = [json.loads(payload) for _, payload in frames_so_far(buffer)]
                if any(e.get("progress", {}).get("step") for e in events):
                    break
    job = client.wait_result(events[0]["jobId"], timeout_s=60)
    assert job.state == jobs_pb2.JOB_STATE_CANCELLED and "went away" in job.cancelled.reason


def frames_so_far(buffer: bytes) -> list[tuple[int, bytes]]:
    """The complete frames at the start of a stream that is still arriving."""
    complete, i = [], 0
    while len(buffer) - i >= 5:
        length = struct.unpack(">I", buffer[i + 1:i + 5])[0]
        if len(buffer) - i - 5 < length:
            break
        complete.append((buffer[i], buffer[i + 5:i + 5 + length]))
        i += 5 + length
    return complete


def test_messages_beyond_connects_4mb_default_are_accepted(http):
    junk = service_pb2.SubmitRequest(task=generate_task(init_image={"data": b"\x01" * (5 * 1024 * 1024)}))
    response = http.post("Submit", content=junk.SerializeToString(), headers={"content-type": "application/proto"})
    body = response.json()  # errors are JSON whatever the request's codec
    assert body["code"] == "invalid_argument" and body["message"].startswith("init_image:")


def test_cors_preflight_and_headers_for_uxp(http):
    preflight = http.options("Run", headers={
        "origin": "null", "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,connect-protocol-version"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    allowed = {h.strip() for h in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "connect-protocol-version", "connect-timeout-ms", "x-grpc-web",
            "x-user-agent"} <= allowed
    response = http.post("GetCapabilities", json={}, headers={"origin": "null"})
    exposed = {h.strip() for h in response.headers["access-control-expose-headers"].split(",")}
    assert response.headers["access-control-allow-origin"] == "*"
    assert {"grpc-status", "grpc-message", "trailer-dccbridge-field"} <= exposed


# -- token, TLS, origins and limits on both faces ---------------------------------------------------


def write_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate it signed for 127.0.0.1 and localhost: (ca, cert, key)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def certificate(subject: str, key, issuer, issuer_key, *extensions):
        builder = (x509.CertificateBuilder()
                   .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                   .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dccbridge test CA")])
    ca = certificate("dccbridge test CA", ca_key, ca_name, ca_key,
                     (x509.BasicConstraints(ca=True, path_length=0), True),
                     (x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                    data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                    crl_sign=True, encipher_only=False, decipher_only=False), True))
    server_cert = certificate(
        "localhost", server_key, ca.subject, ca_key,
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                      x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False),
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
        (x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False))
    paths = folder / "ca.pem", folder / "server.pem", folder / "server-key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    return paths


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """A server that wants a token, speaks only TLS, allows one CORS origin and 2 MiB messages."""
    folder = tmp_path_factory.mktemp("secured")
    ca, cert, key = write_certificates(folder)
    with running_server(folder / "data", http_port=0, token=TOKEN, tls_cert=cert, tls_key=key,
                        cors_origins=(PLUGIN_ORIGIN,), max_message_bytes=SMALL_LIMIT) as srv:
        srv.ca = ca
        yield srv


@pytest.fixture(scope="module")
def https(secured):
    context = ssl.create_default_context(cafile=str(secured.ca))
    with httpx.Client(base_url=f"https://127.0.0.1:{secured.http_port}/{SERVICE}/", verify=context,
                      timeout=60) as c:
        yield c


def secured_client(server, token=TOKEN) -> Client:
    return Client(f"127.0.0.1:{server.port}", token=token, root_certificates=server.ca.read_bytes())


def test_tls_on_both_faces(secured, https):
    with secured_client(secured) as c:
        assert c.capabilities().api_version == "v1"
    assert https.post("GetCapabilities", json={}, headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    with pytest.raises(httpx.TransportError):  # plain HTTP to the TLS port
        httpx.post(f"http://127.0.0.1:{secured.http_port}/{SERVICE}/GetCapabilities", json={}, timeout=10)
    with Client(f"127.0.0.1:{secured.port}", token=TOKEN) as plain, pytest.raises(grpc.RpcError) as error:
        plain.capabilities(timeout=5)
    assert error.value.code() == grpc.StatusCode.UNAVAILABLE
    with pytest.raises(httpx.ConnectError):  # a certificate nobody vouched for
        httpx.post(f"https://127.0.0.1:{secured.http_port}/{SERVICE}/GetCapabilities", json={}, timeout=10)


@pytest.mark.parametrize("token", [None, "wrong"])
def test_without_the_right_token_both_faces_say_unauthenticated(secured, https, token):
    with secured_client(secured, token=token) as c:
        for call in (c.capabilities, lambda: list(c.run(generate_task()))):
            with pytest.raises(grpc.RpcError) as error:
                call()
            assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert error.value.details() == "missing or invalid token"
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = https.post("GetCapabilities", json={}, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"code": "unauthenticated", "message": "missing or invalid token"}
    stream = https.post("Run", content=envelope(json.dumps(generate_json()).encode()),
                        headers={"content-type": "application/connect+json", **headers})
    assert json.loads(frames(stream.content)[-1][1])["error"]["code"] == "unauthenticated"


def test_health_and_reflection_need_no_token(secured):
    credentials = grpc.ssl_channel_credentials(root_certificates=secured.ca.read_bytes())
    with grpc.secure_channel(f"127.0.0.1:{secured.port}", credentials) as channel:
        check = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        assert check.status == SERVING
        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        answer = next(reflection.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(
            list_services="")])))
        assert SERVICE in {s.name for s in answer.list_services_response.service}


def test_message_limit_is_the_same_on_both_faces_and_advertised(secured, https):
    auth = {"authorization": f"Bearer {TOKEN}"}
    advertised = https.post("GetCapabilities", json={}, headers=auth).json()["limits"]["maxMessageBytes"]
    assert advertised == str(SMALL_LIMIT)
    too_big = service_pb2.SubmitRequest(task=generate_task(init_image={"data": b"\x01" * (SMALL_LIMIT + 1024)}))
    with secured_client(secured) as c, pytest.raises(grpc.RpcError) as error:
        c.stub.Submit(too_big, metadata=c.metadata)
    assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    response = https.post("Submit", content=too_big.SerializeToString(),
                          headers={"content-type": "application/proto", **auth})
    assert response.json()["code"] == "resource_exhausted"


def test_cors_allows_only_the_configured_origins(https):
    for origin, allowed in ((PLUGIN_ORIGIN, PLUGIN_ORIGIN), ("http://elsewhere.example", None)):
        preflight = https.options("GetCapabilities", headers={"origin": origin,
                                                              "access-control-request-method": "POST"})
        assert preflight.status_code == 204
        assert preflight.headers.get("access-control-allow-origin") == allowed


def test_cli_client_flags_token_and_tls_ca(secured, capsys):
    assert cli.main(["models", "--server", f"127.0.0.1:{secured.port}", "--token", TOKEN,
                     "--tls-ca", str(secured.ca)]) == 0
    assert capsys.readouterr().out.startswith("tiny (default)")


def test_a_server_without_a_token_stays_on_loopback(tmp_path, capsys):
    assert all(map(is_loopback, ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost")))
    assert not any(map(is_loopback, ("0.0.0.0", "192.168.1.20", "::", "render-box.local")))
    code = cli.main(["serve", "--host", "0.0.0.0", "--port", "0", "--http-port", "0", "--data-dir", str(tmp_path)])
    assert code == 2 and "refusing to listen on 0.0.0.0 without a token" in capsys.readouterr().err


def test_serve_reports_both_ports_and_takes_a_token_file(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "dccbridge.cli", "serve", "--port", "0", "--http-port", "0", "--token-file",
         str(token_file), "--data-dir", str(tmp_path / "data"), "--device", "cpu"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        match = re.search(r"listening on 127\.0\.0\.1:(\d+) \(gRPC\), 127\.0\.0\.1:(\d+) \(HTTP: Connect, "
                          r"gRPC-Web\); token required", line)
        assert match, f"{line!r} {process.stderr.read() if process.poll() is not None else ''}"
        assert re.search(r"listening on 127\.0\.0\.1:(\d+)", line).group(1) == match.group(1)  # scripts' regex
        with Client(f"127.0.0.1:{match.group(1)}", token=TOKEN) as c:
            assert c.capabilities(timeout=60).api_version == "v1"
        response = httpx.post(f"http://127.0.0.1:{match.group(2)}/{SERVICE}/GetCapabilities", json={},
                              headers={"authorization": f"Bearer {TOKEN}"}, timeout=60)
        assert response.status_code == 200
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()


# -- the real Connect client for browsers / UXP -----------------------------------------------------


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH (the connect-web test needs Node 20+)")
def test_connect_web_client_under_node(tmp_path):
    assert (NODE_TESTS / "node_modules" / ".bin" / "protoc-gen-es").exists(), \
        "run: (cd tests/node && npm ci) — scripts/setup.sh does it"
    generated = NODE_TESTS / "gen"
    shutil.rmtree(generated, ignore_errors=True)
    generated.mkdir()
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{ROOT / 'protos'}",
                    f"--plugin=protoc-gen-es={NODE_TESTS / 'node_modules' / '.bin' / 'protoc-gen-es'}",
                    f"--es_out={generated}", "--es_opt=target=js,import_extension=js",
                    *map(str, sorted((ROOT / "protos" / "dccbridge" / "v1").glob("*.proto")))], check=True)
    with running_server(tmp_path, http_port=0, token=TOKEN) as srv:
        env = {**os.environ, "DCCBRIDGE_HTTP_URL": f"http://127.0.0.1:{srv.http_port}", "DCCBRIDGE_TOKEN": TOKEN}
        run = subprocess.run(["node", "--test"], cwd=NODE_TESTS, env=env, capture_output=True, text=True,
                             timeout=120)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert re.search(r"^# pass [1-9]", run.stdout, re.M) and "# fail 0" in run.stdout
