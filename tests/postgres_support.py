"""A real PostgreSQL for the tests: the Debian package's binaries, initdb + pg_ctl on a free port in a temp dir, one
server per test session, a fresh database per test.

Without the binaries the tests that need it are skipped, except under CI=true, where they fail and say how to
install them (scripts/setup_system.sh installs the `postgresql` package). initdb refuses to run as root: as root
the server runs as the unprivileged user `nobody`, in a directory that user owns.

Use: `from postgres_support import postgres  # noqa: F401 (a fixture)`, then `postgres.new_database()` -> a URL.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest

INSTALL = "apt-get install -y postgresql (scripts/setup_system.sh does it when run as root)"
USER = "dccb"


def find_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin that has initdb and pg_ctl (Debian keeps them off PATH)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    for candidate in candidates:
        if all(os.access(os.path.join(candidate, tool), os.X_OK) for tool in ("initdb", "pg_ctl")):
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="dccb-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.dir, nobody.pw_uid, nobody.pw_gid)
            self._as_user = ["runuser", "-u", "nobody", "--"]

    def _run(self, *args: str) -> None:
        result = subprocess.run([*self._as_user, *args], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            log = (self.dir / "log").read_text() if (self.dir / "log").exists() else ""
            raise RuntimeError(f"{args[0]} failed ({result.returncode}): {result.stderr}{result.stdout}\n{log}")

    def start(self) -> "PostgresServer":
        self._run(str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        # fsync off: a test database need not survive a power cut, and the shared machine's disk is slow.
        options = f"-p {self.port} -k {self.dir} -h 127.0.0.1 -c fsync=off -c max_connections=200"
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.dir / "log"),
                  "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")
        return self.url(name)


@pytest.fixture(scope="session")
def postgres():
    bin_dir = find_bin_dir()
    if bin_dir is None:
        message = f"PostgreSQL binaries (initdb, pg_ctl) not found: {INSTALL}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    server = PostgresServer(bin_dir).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A job store URL per kind: a SQLite file in the test's temp dir, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'index' / 'jobs.sqlite3'}"
    return request.getfixturevalue("postgres").new_database()
