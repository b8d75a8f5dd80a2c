"""What every benchmark here shares: the result table, percentiles, and server processes.

Each bench script collects rows (measure, waengine, baseline measured in the same run, ratio)
with row() and prints them with print_table(); servers it starts are Proc objects in their own
process group, stopped (TERM, then KILL) when the script ends.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.conftest import (  # noqa: E402
    PortTaken,
    listening_socket,
    on_free_port,
    port_of,
    wait_for,
)

ROWS: list[tuple[str, str, str, str]] = []


def row(what: str, value: str, baseline: str = "", ratio: str = "") -> None:
    """One line of the result table, also echoed to stderr as it is measured."""
    ROWS.append((what, value, baseline, ratio))
    print(f"  {what}: {value} | {baseline or '-'} | {ratio}", file=sys.stderr, flush=True)


def pct(samples: list[float], q: float) -> float:
    samples = sorted(samples)
    return samples[min(len(samples) - 1, int(q * len(samples)))]


def ms(samples: list[float]) -> str:
    """Seconds samples as 'p50 x / p99 y ms'."""
    return f"p50 {pct(samples, 0.5) * 1000:.1f} / p99 {pct(samples, 0.99) * 1000:.1f} ms"


def sec(samples: list[float]) -> str:
    return f"median {statistics.median(samples):.2f} s, max {max(samples):.2f} s"


def timed(fn, n: int) -> list[float]:
    """Seconds each of n sequential calls of fn took."""
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


class Proc:
    """A server subprocess (gunicorn or the sandbox) in its own process group."""

    def __init__(self, args: list[str], env: dict, log: Path, pass_fds: tuple[int, ...] = ()):
        self.path = log
        self.log = log.open("ab")
        self.proc = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env}, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True,
                                     pass_fds=pass_fds)

    def stop(self, timeout: float = 120) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


def wait_http(url: str, timeout: float = 60) -> None:
    def up():
        try:
            return requests.get(url, timeout=2).status_code < 500
        except requests.RequestException:  # refused, or too slow to answer yet
            return False
    wait_for(up, timeout=timeout, interval=0.1, message=url)


def start_sandbox(tmp: Path, *options: str) -> tuple[str, Proc]:
    """The sandbox in its own process on a free port, logging to tmp, answering: (its URL, the
    process). It takes a port number: a port taken meanwhile means another try."""
    def start(port: int) -> tuple[str, Proc]:
        proc = Proc([sys.executable, "-m", "waengine", "sandbox", "--port", str(port), *options], {},
                    tmp / "sandbox.log")
        url = f"http://127.0.0.1:{port}"

        def up():
            if proc.proc.poll() is not None:
                proc.stop()
                if "Address already in use" in proc.path.read_text(errors="replace"):
                    raise PortTaken(port)
                raise RuntimeError(f"the sandbox exited: see {proc.path}")
            try:
                return requests.get(url + "/", timeout=2).status_code < 500
            except requests.RequestException:
                return False
        wait_for(up, timeout=60, interval=0.1, message=url)
        return url, proc
    return on_free_port(start)


def gunicorn(app: str, env: dict, log: Path, gateway: bool | None = None) -> tuple[int, Proc]:
    """The gateway (wsgi:app, or `gateway=True`) with its gunicorn.conf.py; the bare app with
    the same worker settings. gunicorn takes a listening socket made here (fd://), so its port
    cannot be taken first."""
    gateway = app == "wsgi:app" if gateway is None else gateway
    conf = (["-c", "gunicorn.conf.py"] if gateway else
            ["-c", "/dev/null", "-w", "1", "-k", "gthread", "--threads", "16",
             "--keep-alive", "5"])
    with listening_socket() as sock:
        proc = Proc([sys.executable, "-m", "gunicorn", *conf, "-b", f"fd://{sock.fileno()}",
                     "--access-logfile", "/dev/null", "--no-control-socket", app], env, log,
                    pass_fds=(sock.fileno(),))
        return port_of(sock), proc


def print_table(title: str) -> None:
    """The rows as a Markdown table under a heading with the date, machine and load."""
    print(f"\n### {title}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
          f"load {os.getloadavg()[0]:.1f}\n")
    headers = ("measure", "waengine", "baseline (same run)", "ratio")
    print("| " + " | ".join(headers) + " |")
    print("|" + "---|" * len(headers))
    for r in ROWS:
        print("| " + " | ".join(r) + " |")


def sandbox_in_thread():
    """The sandbox's web app served from a thread of this process: (server, its base URL
    ending in "/"); server.shutdown() stops it."""
    import threading

    from waengine import sandbox

    box = sandbox.make_server("127.0.0.1", 0)
    threading.Thread(target=box.serve_forever, name="sandbox", daemon=True).start()
    return box, f"http://127.0.0.1:{box.server_port}/"
