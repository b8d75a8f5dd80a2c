"""A fake browser and bridge for unit tests of pure engine logic (no Chromium)."""

from __future__ import annotations

import threading

from waengine.engine.bridge import BrowserGone
from waengine.errors import from_page_error


class FakeBrowser:
    def __init__(self, pid: int, bridge=None):
        self.pid = pid
        self.quits = 0
        self.kills = 0
        self.bridge = bridge

    def quit(self) -> None:
        self.quits += 1

    def kill(self) -> None:
        """Like SIGKILL: the page is gone, and a call blocked in it returns BrowserGone."""
        self.kills += 1
        if self.bridge is not None:
            self.bridge.dead = True
            self.bridge.thaw.set()


class FakeBridge:
    """Plays a page: `state` is what poll() returns; ops are answered by `handlers`."""

    def __init__(self):
        self.state = {"fullReady": False, "auth": False, "mode": None, "qr": None,
                      "idle": False, "me": None}
        self.events: list[dict] = []
        self.acked: list[str] = []
        # Every send first asks for the id it will carry; findSent answers "not in the chat".
        self.ids = 0
        # chatKnown: every recipient is a chat the account has (a reply, not a reach-out).
        self.handlers = {"newMessageId": self._new_id, "findSent": lambda id: None,
                         "chatKnown": lambda to: {"known": True},
                         "catchUp": lambda since, perChat, undecryptableBefore=None: []}
        self.dead = False
        self.lock = threading.Lock()
        # frozen: poll() blocks until thawed, like a renderer that stopped (SIGSTOP, busy loop)
        self.frozen = False
        self.thaw = threading.Event()
        self.polls = 0
        self.poll_errors: list = []  # exception classes the next polls raise, one each
        self.trims: list[str] = []  # memory-pressure levels signalled (trim_memory)
        self.reloads = 0  # soft reloads taken (reload_if_drained)

    def poll(self, ack_ids):
        self.polls += 1
        if self.frozen:
            self.thaw.wait(30)
        if self.poll_errors:
            raise self.poll_errors.pop(0)()
        with self.lock:
            if self.dead:
                raise BrowserGone("killed")
            self.acked += ack_ids
            self.events = [e for e in self.events if e["id"] not in set(ack_ids)]
            return {**self.state, "events": list(self.events)}

    def trim_memory(self, level: str) -> None:
        self.trims.append(level)

    def reload_if_drained(self) -> bool:
        """Like the bridge: no reload while events wait for the gateway."""
        with self.lock:
            if self.events:
                return False
            self.reloads += 1
            return True

    def _new_id(self, to):
        self.ids += 1
        return f"true_{to}_3EB0{self.ids:016X}"

    def call(self, op, **args):
        if self.dead:
            raise BrowserGone("killed")
        handler = self.handlers.get(op)
        if handler is None:
            raise from_page_error("unknown_op", op)
        return handler(**args)


class FakeFactory:
    def __init__(self):
        self.opened: list[tuple[str, FakeBrowser, FakeBridge]] = []
        self.fail_next = 0
        self.on_open = None  # called with the new bridge, e.g. to make it ready at once

    def open(self, session_id):
        if self.fail_next:
            self.fail_next -= 1
            raise RuntimeError("SessionNotCreatedException: Chrome instance exited")
        bridge = FakeBridge()
        browser = FakeBrowser(1000 + len(self.opened), bridge)
        if self.on_open:
            self.on_open(bridge)
        self.opened.append((session_id, browser, bridge))
        return browser, bridge

    def bridge(self, index=-1) -> FakeBridge:
        return self.opened[index][2]


# ---- what a page shows, and what the gateway reports for it ----

def status_of(client, sid="s1"):
    return client.get(f"/sessions/{sid}").json["status"]


def scan_qr(bridge, qr="ref1,a,b,c"):
    """The fake page shows a QR, as a page not yet linked does."""
    bridge.state.update(fullReady=True, auth=False, mode="QR", qr=qr)


def connect(bridge, me="6281234567890@c.us"):
    """The fake page is linked and in MAIN, as after a scan."""
    bridge.state.update(fullReady=True, auth=True, mode="MAIN", qr=None,
                        me={"id": me, "name": "Sales"})
