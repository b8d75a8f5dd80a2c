"""The simulated WhatsApp network behind the sandbox page.

Pure Python, no Flask. One lock (a Condition) guards everything: the state is small and
the operations are short, and a single Condition lets long-polls wait for "anything new"
without sleep loops. Times come from an injectable clock and delayed work (acks) goes
through an injectable scheduler, so unit tests can run the network on a fake clock.

Vocabulary:
- phone: an account on the network (digits, e.g. "6281234567890").
- device: a linked browser (WhatsApp Web). Its events stay queued on the server until a
  page holding that login acknowledges them (WhatsApp's offline queue: nothing is lost while
  no page runs); an acknowledged event is never sent again, so what a page saw before it died
  is only in the chats' history (GET /history).
- pairing: a page that shows a QR (refs rotating on the clock) or a pairing code."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable

from .calls import CallOps
from .channels import ChannelOps
from .chatstate import ChatStateOps
from .clock import ThreadScheduler
from .communities import CommunityOps
from .contacts import ContactOps
from .devices import DeviceOps
from .failures import FailureOps
from .groups import GroupAdminOps, GroupOps
from .identities import IdentityOps
from .keystate import KeyStateOps
from .messages import MessageOps
from .model import (
    POLL_TIMEOUT_MAX,
    Device,
    Group,
    Message,
    Options,
    Pairing,
    Phone,
)
from .notices import NoticeOps
from .pairing import PairingOps
from .phones import PhoneOps
from .profiles import ProfileOps
from .reachout import ReachOutOps
from .receipts import ReceiptOps
from .seeding import SeedOps
from .statuses import StatusOps
from .streams import StreamOps
from .updates import UpdateOps


class Network(ChannelOps, CommunityOps, PhoneOps, SeedOps, ContactOps, PairingOps, DeviceOps,
              CallOps, NoticeOps, MessageOps, GroupOps, GroupAdminOps, ProfileOps, FailureOps,
              StreamOps, ChatStateOps, ReceiptOps, UpdateOps, ReachOutOps, IdentityOps,
              StatusOps, KeyStateOps):
    """The whole simulated network. Every public method is thread-safe."""

    def __init__(
        self,
        options: Options | None = None,
        clock: Callable[[], float] = time.time,
        scheduler=None,
    ):
        self.options = options or Options()
        # statuses.py clock(): a test moves the network a day on instead of waiting one
        self._clock_offset = 0.0
        self._clock = lambda: clock() + self._clock_offset
        self._scheduler = scheduler or ThreadScheduler()
        self._cond = threading.Condition()
        self._closed = False
        self._reset_state()

    # ----------------------------------------------------------------- lifecycle

    def _reset_state(self) -> None:
        self._generation = getattr(self, "_generation", 0) + 1
        self._phones: dict[str, Phone] = {}
        self._groups: dict[str, Group] = {}
        self._channels: dict = {}  # channels.py: id -> Channel
        self._messages: dict[str, Message] = {}
        self._message_order: list[str] = []
        self._devices: dict[str, Device] = {}
        self._tombstones: dict[str, str] = {}  # unlinked device id -> logout reason
        self._pairings: dict[str, Pairing] = {}
        self._refs: dict[str, str] = {}  # every ref ever issued -> pairing id
        self._codes: dict[str, str] = {}  # pairing code -> pairing id
        self._stalls: dict[str, float] = {}
        self._send_failures: dict[str, list[str]] = {}  # phone -> results of its next sends
        self._query_failures: dict[str, int] = {}  # phone -> number lookups still to fail
        self._refused_retries: set[str] = set()  # keystate.py: phones whose retries go unanswered
        self._reach_out: dict = {}  # phone -> its reach-out budgets and timelock (reachout.py)
        # identities.py: accounts known by @lid only, and the private numbers each one learned
        self._private_numbers: set[str] = set()
        self._learned_numbers: dict[str, set] = {}
        self._group_counter = itertools.count(1)
        # chatstate.py: who is online, who types to whom, presence subscriptions, labels
        self._online: dict[str, bool] = {}
        self._chatstates: dict[tuple[str, str], dict] = {}
        self._presence_subs: dict[str, dict] = {}
        self._labels: dict[str, dict] = {}

    def reset(self) -> None:
        """Forget everything (tests); waiting pages learn their login is gone."""
        with self._cond:
            self._reset_state()
            self._cond.notify_all()

    def close(self) -> None:
        """Wake every waiter and refuse to wait again (server shutdown)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        close = getattr(self._scheduler, "close", None)
        if close:
            close()

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        """Run fn(under the lock) after delay, unless the network was reset meanwhile."""
        generation = self._generation

        def run():
            with self._cond:
                if self._generation == generation and not self._closed:
                    fn()
                    self._cond.notify_all()

        self._scheduler.call_later(delay, run)

    def _wait(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait (lock held) until predicate() or timeout; bounded, wakes on changes."""
        deadline = time.monotonic() + max(0.0, min(timeout, POLL_TIMEOUT_MAX))
        while not self._closed and not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._cond.wait(remaining)

    # ----------------------------------------------------------------- stalls

    def set_stall(self, fn: str, seconds: float) -> dict:
        with self._cond:
            if seconds and seconds > 0:
                self._stalls[str(fn)] = float(seconds)
            else:
                self._stalls.pop(str(fn), None)
            return dict(self._stalls)

    def get_stall(self, fn: str) -> float:
        with self._cond:
            return self._stalls.get(str(fn), 0.0)
