"""A real PostgreSQL for the tests: Debian's server binaries, a cluster in a temporary folder on
a free loopback port, run as `nobody` when the tests run as root (postgres refuses root)."""

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

# util-linux's runuser lives in /usr/sbin, which a non-login PATH may leave out.
RUNUSER = shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin") or "runuser"


def server_bindir() -> Path:
    """Debian's postgresql package keeps pg_ctl off PATH, under /usr/lib/postgresql/<v>/bin."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found under /usr/lib/postgresql "
                           "(make test installs Debian's postgresql package)")
    return Path(found[-1]).parent


PORT_ATTEMPTS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """initdb + pg_ctl in a temporary folder; `settings` go to postgresql.conf."""

    def __init__(self, settings: dict | None = None, durable: bool = False):
        self.bindir = server_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="waengine-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.user = "nobody" if os.geteuid() == 0 else None
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        try:
            self._run("initdb", "-D", str(self.data), "-U", "waengine", "--auth=trust",
                      "-E", "UTF8", "--locale=C", *([] if durable else ["--no-sync"]))
            conf = {"listen_addresses": "'127.0.0.1'", "port": str(self.port),
                    "unix_socket_directories": f"'{self.root}'", "max_connections": "200",
                    "shared_buffers": "32MB"}
            if not durable:  # tests: nothing survives them anyway
                conf.update(fsync="off", synchronous_commit="off", full_page_writes="off")
            conf.update(settings or {})
            with open(self.data / "postgresql.conf", "a") as f:
                f.writelines(f"{k} = {v}\n" for k, v in conf.items())
            self._start_on_a_free_port()
        except BaseException:
            shutil.rmtree(self.root, ignore_errors=True)
            raise

    def _run(self, command: str, *args: str) -> None:
        cmd = [str(self.bindir / command), *args]
        if self.user:
            cmd = [RUNUSER, "-u", self.user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.root)
        if done.returncode:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{command} failed: {done.stderr or done.stdout}\n{log}")

    def _start_on_a_free_port(self) -> None:
        """The port was picked and closed before the server binds it, so another process may
        take it first: the server then fails with "Address already in use" and a new port is
        set (the last `port =` line of postgresql.conf wins). Restarts keep the port."""
        for attempt in range(PORT_ATTEMPTS):
            try:
                return self.start()
            except RuntimeError:
                taken = self.log.exists() and "already in use" in self.log.read_text()
                if not taken or attempt == PORT_ATTEMPTS - 1:
                    raise
                self.port = free_port()
                with open(self.data / "postgresql.conf", "a") as f:
                    f.write(f"port = {self.port}\n")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def close(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://waengine@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def query(self, url: str, sql: str, args=()) -> list[tuple]:
        """Rows read straight from the server (what the gateway stored)."""
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            return conn.execute(sql, args).fetchall()
