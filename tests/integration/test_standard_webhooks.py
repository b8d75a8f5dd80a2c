"""Standard Webhooks: a linked session's deliveries verify with the maintained PyPI and npm
libraries, and both libraries reject a tampered body and a stale timestamp."""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from waengine.events import signing

from ..conftest import phones, wait_for

number = phones(__name__)

ALICE, BUDI = number(11), number(12)
NODE_RECEIVER = Path(__file__).parent.parent / "node_receiver.js"


class NodeReceiver:
    """tests/node_receiver.js as a child process; `verdicts` holds what it printed."""

    def __init__(self, secret: str):
        self.proc = subprocess.Popen([shutil.which("node"), str(NODE_RECEIVER)],
                                     stdout=subprocess.PIPE, text=True,
                                     env={"WEBHOOK_SECRET": secret})
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, name="node-receiver", daemon=True).start()
        port = json.loads(self.lines.get(timeout=10))["port"]
        self.url = f"http://127.0.0.1:{port}/hook"
        self.verdicts: list[dict] = []

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line)

    def collected(self) -> list[dict]:
        while not self.lines.empty():
            self.verdicts.append(json.loads(self.lines.get()))
        return self.verdicts

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def node_receivers():
    assert shutil.which("node"), "node is not installed (make install)"
    made = []
    yield lambda secret: made.append(NodeReceiver(secret)) or made[-1]
    for node in made:
        node.stop()


def message_requests(receiver):
    return [r for r in receiver.requests if json.loads(r["body"])["type"] == "message"]


def test_deliveries_verify_with_the_pypi_and_npm_libraries(gateway, sandbox, receiver,
                                                           node_receivers):
    client = gateway.client
    assert client.post("/sessions", json={"id": "sw"}).status_code == 201
    put = client.put("/sessions/sw/webhook", json={"url": receiver.url, "events": ["message"],
                                                   "generateSecret": True})
    secret = put.json["secret"]
    receiver.verify = Webhook(secret).verify  # a failed check answers 400: dead-lettered
    sandbox.phone(BUDI, "Budi")
    gateway.link(sandbox, "sw", ALICE)

    sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": "to python"})
    [py] = wait_for(lambda: message_requests(receiver), timeout=15, message="python delivery")
    assert py["status"] == 200, "the PyPI library refused the delivery"
    sent = {k.lower(): v for k, v in py["headers"].items()}
    assert sent["webhook-id"] == json.loads(py["body"])["id"]

    node = node_receivers(secret)
    assert client.put("/sessions/sw/webhook", json={"url": node.url, "events": ["message"],
                                                    "secret": secret}).status_code == 200
    sandbox.post("/_sandbox/messages", **{"from": BUDI, "to": ALICE, "text": "to node"})
    [verdict] = wait_for(node.collected, timeout=15, message="node delivery")
    assert verdict["ok"] is True and verdict["type"] == "message", verdict
    assert not client.get("/sessions/sw/webhook/deliveries?status=failed").json["data"]

    # The same delivery, tampered, and a correctly signed one from ten minutes ago.
    tampered = py["body"].replace(b"to python", b"to pyth0n")
    old = str(int(time.time()) - 600)
    stale = signing.headers("evt_stale", "message", old, py["body"], secret)
    for body, headers, reason in ((tampered, sent, "signature"),
                                  (py["body"], stale, "too old")):
        with pytest.raises(WebhookVerificationError, match=reason):
            Webhook(secret).verify(body, headers)
        resp = requests.post(node.url, data=body, headers=headers, timeout=5)
        assert resp.status_code == 400 and reason in resp.text.lower(), resp.text
