"""A PostgreSQL cluster of one's own: initdb into a temporary directory, served on a free loopback port.

Why: restarting PostgreSQL under a running deployment is a fault worth testing
(every Dagster process loses its connections at once), but the machine's
server on 127.0.0.1:5432 is shared with other work and must not be restarted.
A private cluster can be: :meth:`PrivateCluster.restart` stops it (``fast``:
sessions are ended; ``immediate``: no shutdown checkpoint, crash recovery at
start) and starts it again on the same port and data.

PostgreSQL refuses to run as root, so when the caller is root the server
binaries run as the ``postgres`` user through ``runuser`` and the directory
is handed to that user. Trust authentication, TCP on 127.0.0.1 only, no Unix
socket. The cluster is stopped and its directory removed on exit, also when
the body raises or is interrupted.

    with PrivateCluster() as cluster:
        cluster.create_database("faults")
        environ = cluster.environ("faults")   # DAGSTER_PG_* for deploy/dagster.postgres.yaml
        cluster.restart("immediate")
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import closing
from pathlib import Path

SERVER_USER = "postgres"
BIN_DIRS = ("/usr/local/bin", *sorted(map(str, Path("/usr/lib/postgresql").glob("*/bin")), reverse=True))
# Small and quiet: it serves one test or benchmark on a shared machine. fsync off is safe against
# process kills (the OS keeps the written WAL); only a machine crash could lose data, and the cluster
# does not outlive its run anyway.
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_directories": "''",
    "max_connections": "200",
    "shared_buffers": "32MB",
    "fsync": "off",
    "full_page_writes": "off",
    "log_min_messages": "warning",
}


class ClusterUnavailable(RuntimeError):
    """The server binaries or the user to run them as are missing, or the cluster would not start."""


def _free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _binary(name: str) -> str:
    for directory in BIN_DIRS:
        path = Path(directory) / name
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which(name)
    if found is None:
        raise ClusterUnavailable(f"no {name} in {', '.join(BIN_DIRS)} or on PATH")
    return found


class PrivateCluster:
    """One PostgreSQL cluster in a temporary directory; see the module docstring."""

    def __init__(self, base_dir: str | Path | None = None, user: str = SERVER_USER) -> None:
        self.base_dir = base_dir
        self.as_root = os.geteuid() == 0
        self.user = user if self.as_root else pwd.getpwuid(os.geteuid()).pw_name
        self.port = 0
        self.root: Path | None = None
        self.restarts = 0

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    def _run(self, *command: str, timeout: float = 120) -> str:
        argv = [_binary(command[0]), *command[1:]]
        if self.as_root:
            argv = ["runuser", "-u", self.user, "--", *argv]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise ClusterUnavailable(f"{' '.join(command[:2])} failed ({done.returncode}): "
                                     f"{(done.stderr or done.stdout).strip()[-800:]}\n{self.log_tail()}")
        return done.stdout

    def __enter__(self) -> "PrivateCluster":
        try:
            self.root = self._make_root()
            self._init()
            self.port = _free_port()
            self._append_settings({**SETTINGS, "port": str(self.port)})
            self._pg_ctl("start", "-l", str(self.log_path))
        except BaseException:
            self.__exit__()
            raise
        return self

    def _make_root(self) -> Path:
        """A new directory the server's user owns and can reach: in ``base_dir``, else in TMPDIR, else in /tmp.

        Without an explicit ``base_dir``, a TMPDIR the ``postgres`` user cannot
        reach (under a 0700 directory, as pytest's are) gives way to /tmp.
        """
        if not self.as_root:
            return Path(tempfile.mkdtemp(prefix="pg-", dir=self.base_dir))
        try:
            account = pwd.getpwnam(self.user)
        except KeyError:
            raise ClusterUnavailable(f"no {self.user!r} user to run PostgreSQL as (it refuses root)") from None
        candidates = [self.base_dir] if self.base_dir is not None else [tempfile.gettempdir(), "/tmp"]
        for base in candidates:
            root = Path(tempfile.mkdtemp(prefix="pg-", dir=base))
            os.chown(root, account.pw_uid, account.pw_gid)
            probe = subprocess.run(["runuser", "-u", self.user, "--", "test", "-w", str(root)], capture_output=True)
            if probe.returncode == 0:
                return root
            shutil.rmtree(root, ignore_errors=True)
        raise ClusterUnavailable(f"user {self.user!r} can write none of {candidates} (a parent directory is closed)")

    def _init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8", "--no-sync",
                  "--locale=C")

    def _append_settings(self, settings: dict[str, str]) -> None:
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# PrivateCluster\n" + "".join(f"{name} = {value}\n" for name, value in settings.items()))

    def _pg_ctl(self, action: str, *options: str) -> None:
        self._run("pg_ctl", action, "-D", str(self.data), "-w", "-t", "60", *options)

    def restart(self, mode: str = "fast") -> float:
        """Stop the server (``fast`` or ``immediate``) and start it again; returns the seconds it was down for."""
        started = time.monotonic()
        self._pg_ctl("restart", "-m", mode, "-l", str(self.log_path))
        self.restarts += 1
        return time.monotonic() - started

    def __exit__(self, *exc: object) -> None:
        if self.root is None:
            return
        try:
            if (self.data / "postmaster.pid").exists():
                self._pg_ctl("stop", "-m", "immediate")
        except (ClusterUnavailable, subprocess.TimeoutExpired):
            self._kill_postmaster()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def _kill_postmaster(self) -> None:
        """Last resort when pg_ctl cannot stop it: SIGKILL the postmaster named in its pid file."""
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, 9)
        except (OSError, ValueError, IndexError):
            pass

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, TypeError, AttributeError):
            return ""

    # -- clients --

    def connect(self, dbname: str = "postgres"):
        import psycopg2

        return psycopg2.connect(host="127.0.0.1", port=self.port, user=self.user, dbname=dbname, connect_timeout=5)

    def create_database(self, name: str) -> str:
        connection = self.connect()
        connection.autocommit = True
        with closing(connection), connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        return name

    def environ(self, dbname: str) -> dict[str, str]:
        """The ``DAGSTER_PG_*`` variables deploy/dagster.postgres.yaml reads, for database ``dbname``."""
        return {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(self.port), "DAGSTER_PG_USER": self.user,
                "DAGSTER_PG_PASSWORD": "", "DAGSTER_PG_DB": dbname}
