"""A stand-in Hugging Face hub on 127.0.0.1 that the real huggingface_hub client talks to (HF_ENDPOINT).

It serves the endpoints huggingface_hub 2.4 calls for snapshot_download / hf_hub_download over plain HTTP (no Xet
headers, so the HTTP path is taken): repo info (`/api/models/{repo}/revision/{rev}`), the recursive tree listing
(`/api/models/{repo}/tree/{rev}`), and `/{repo}/resolve/{rev}/{path}` (HEAD and GET). Small files answer directly
with their git blob sha1 as ETag; LFS files (*.safetensors, *.bin, *.ckpt) redirect to `/cdn/{sha256}` with
X-Linked-Etag / X-Linked-Size, and the CDN path honours `Range` with 206.

Faults for tests: `stall_after[path] = n` sends n bytes of the file's first GET and then holds the connection
open; `hang_up_after[path] = n` sends n bytes and closes; `corrupt` paths are served with flipped bytes (same
length, same advertised hashes). Every request is recorded in `requests` as (method, path, Range header).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".ckpt")


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class StubRepo:
    files: dict[str, bytes]
    commit: str = field(default="")

    def __post_init__(self):
        if not self.commit:
            digest = hashlib.sha1()
            for path in sorted(self.files):
                digest.update(path.encode() + git_blob_sha1(self.files[path]).encode())
            self.commit = digest.hexdigest()

    @classmethod
    def from_folder(cls, folder: Path, extra: dict[str, bytes] | None = None) -> StubRepo:
        files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
        return cls({**files, **(extra or {})})


class HubStub:
    def __init__(self):
        self.repos: dict[str, StubRepo] = {}
        self.requests: list[tuple[str, str, str]] = []
        self.stall_after: dict[str, int] = {}
        self.hang_up_after: dict[str, int] = {}
        self.corrupt: set[str] = set()
        self.release = threading.Event()  # lets stalled responses end
        self._blobs: dict[str, tuple[str, str]] = {}  # sha256 -> (repo id, path)
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_HEAD(self):
                stub._handle(self, head=True)

            def do_GET(self):
                stub._handle(self, head=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # Another host name for the same server: huggingface_hub follows redirects within the hub's host and
        # stops at a CDN host, reading the file's metadata from the redirect itself.
        self.cdn_url = f"http://localhost:{self.server.server_address[1]}"

    def add(self, repo_id: str, repo: StubRepo) -> StubRepo:
        self.repos[repo_id] = repo
        for path, data in repo.files.items():
            if path.endswith(LFS_SUFFIXES):
                self._blobs[hashlib.sha256(data).hexdigest()] = (repo_id, path)
        return repo

    def start(self) -> HubStub:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def ranges_for(self, path: str) -> list[str]:
        return [rng for method, request_path, rng in self.requests if method == "GET" and request_path.endswith(path)]

    # -- request handling ------------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, head: bool) -> None:
        path = unquote(urlsplit(handler.path).path)
        if path.startswith("/cdn/"):
            self.requests.append((handler.command, self._blobs.get(path[5:], ("", path))[1], handler.headers.get("Range", "")))
            return self._serve_blob(handler, path[5:], head)
        self.requests.append((handler.command, path, handler.headers.get("Range", "")))
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] in ("revision", "tree"):
            repo_id, action, revision = f"{parts[2]}/{parts[3]}", parts[4], parts[5]
            repo = self._repo(handler, repo_id, revision)
            if repo is None:
                return
            if action == "revision":
                body = {"id": repo_id, "sha": repo.commit, "private": False,
                        "siblings": [{"rfilename": p} for p in sorted(repo.files)]}
            else:
                body = self._tree(repo)
            return self._send(handler, 200, json.dumps(body).encode(), {"Content-Type": "application/json"}, head)
        if len(parts) >= 5 and parts[2] == "resolve":
            repo_id, revision, file_path = f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:])
            repo = self._repo(handler, repo_id, revision)
            if repo is None:
                return
            if file_path not in repo.files:
                return self._send(handler, 404, b"", {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": repo.commit},
                                  head)
            data = repo.files[file_path]
            common = {"X-Repo-Commit": repo.commit, "Accept-Ranges": "bytes"}
            if file_path.endswith(LFS_SUFFIXES):
                sha256 = hashlib.sha256(data).hexdigest()
                return self._send(handler, 302, b"", {**common, "Location": f"{self.cdn_url}/cdn/{sha256}",
                                                      "X-Linked-Etag": f'"{sha256}"', "X-Linked-Size": str(len(data)),
                                                      "ETag": f'"{git_blob_sha1(data)}"'}, head)
            return self._send_file(handler, file_path, data, {**common, "ETag": f'"{git_blob_sha1(data)}"'}, head)
        self._send(handler, 404, b"not found", {}, head)

    def _repo(self, handler, repo_id: str, revision: str) -> StubRepo | None:
        repo = self.repos.get(repo_id)
        if repo is None:
            self._send(handler, 401, b"", {"X-Error-Code": "RepoNotFound",
                                           "X-Error-Message": "Repository not found"}, handler.command == "HEAD")
            return None
        if revision not in ("main", repo.commit):
            self._send(handler, 404, b"", {"X-Error-Code": "RevisionNotFound"}, handler.command == "HEAD")
            return None
        return repo

    def _tree(self, repo: StubRepo) -> list[dict]:
        entries, folders = [], set()
        for path, data in sorted(repo.files.items()):
            parent = path.rpartition("/")[0]
            while parent and parent not in folders:
                folders.add(parent)
                entries.append({"type": "directory", "path": parent, "oid": git_blob_sha1(parent.encode()), "size": 0})
                parent = parent.rpartition("/")[0]
            entry = {"type": "file", "path": path, "size": len(data), "oid": git_blob_sha1(data)}
            if path.endswith(LFS_SUFFIXES):
                sha256 = hashlib.sha256(data).hexdigest()
                pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(data)}\n"
                entry.update(oid=git_blob_sha1(pointer.encode()),
                             lfs={"oid": sha256, "size": len(data), "pointerSize": len(pointer)})
            entries.append(entry)
        return entries

    def _serve_blob(self, handler, sha256: str, head: bool) -> None:
        if sha256 not in self._blobs:
            return self._send(handler, 404, b"", {}, head)
        repo_id, path = self._blobs[sha256]
        self._send_file(handler, path, self.repos[repo_id].files[path], {"Accept-Ranges": "bytes",
                                                                         "ETag": f'"{sha256}"'}, head)

    def _send_file(self, handler, path: str, data: bytes, headers: dict, head: bool) -> None:
        if path in self.corrupt:
            data = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
        start, status = 0, 200
        requested = handler.headers.get("Range", "")
        if requested.startswith("bytes=") and not head:
            start = int(requested[6:].split("-")[0])
            status = 206
            headers = {**headers, "Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
        body = data[start:]
        if head or (path not in self.stall_after and path not in self.hang_up_after):
            return self._send(handler, status, body, headers, head)
        cut = self.stall_after.pop(path, None)
        stall = cut is not None
        if not stall:
            cut = self.hang_up_after.pop(path)
        handler.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body[:cut])
        handler.wfile.flush()
        if stall:
            self.release.wait(120)
        handler.close_connection = True

    @staticmethod
    def _send(handler, status: int, body: bytes, headers: dict, head: bool) -> None:
        handler.send_response(status)
        for key, value in {**headers, "Content-Length": str(len(body))}.items():
            handler.send_header(key, value)
        handler.end_headers()
        if not head:
            handler.wfile.write(body)
