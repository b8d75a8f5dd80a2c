"""Push/poll delivery of page events: the DevTools channel's pushes (engine/channel.py) and the
worker's polls hand each event to the sink (the outbox) once and in the page's order. A mixin
of Session (engine/session.py).
"""

from __future__ import annotations

import json
import logging
import time

from .. import counters
from ..errors import BrowserUnavailable, CommandTimeout, StorageUnavailable
from .status import versions
from .worker import WAKE, Restart

log = logging.getLogger("waengine.engine.session")
# Ids of delivered page events remembered to skip the copy a poll or a re-push brings back.
DELIVERED_MEMORY = 4096


class EventDelivery:
    """The page-event side of a Session."""

    # ---- the push channel (engine/channel.py) ----
    def _ensure_channel(self) -> bool:
        """True when the page can push; (re)opens the channel, at most once a safety interval."""
        if self._channel is not None and not self._channel.closed:
            return True
        opener = getattr(self._bridge, "open_channel", None)
        now = time.monotonic()
        if self._config["PUMP_MODE"] != "push" or opener is None or now < self._channel_retry_at:
            return False
        try:
            with self._busy():
                self._channel = opener(f"wa-session-{self.id}", self._notified)
        except Exception as e:
            log.warning("session %s: no event channel, polling instead: %s", self.id, e)
            self._channel = None
            self._channel_retry_at = now + self._config["SAFETY_POLL_INTERVAL"]
            return False
        self._wake_pending.clear()
        self._pump()  # what the page queued before the binding existed
        return True

    def _unblock(self) -> None:
        """A poll delivered all the page had: pushes go straight to the sink again."""
        with self._deliver_lock:
            self._blocked, self._held = None, False
            skipped, self._skipped_push = self._skipped_push, False
        if skipped:  # pushed after that poll's read
            self._wake()

    def _wake(self) -> None:
        """Have the worker read the page now (once, however many ask before it does)."""
        if not self._wake_pending.is_set():
            self._wake_pending.set()
            self._queue.put(WAKE)

    def _close_channel(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None and self._bridge is not None:
            self._bridge.close_channel(channel)

    def _notified(self, payload: str) -> None:
        """On the channel's I/O thread: events are committed, then acked on the channel."""
        if payload == "state":
            self._wake()
            return
        done = []
        for event in json.loads(payload).get("events") or ():
            if self._deliver(event, in_order=False) is None:
                break  # keep the order: this one and the rest stay queued in the page
            done.append(event["id"])
        channel = self._channel
        if done and channel is not None:
            channel.evaluate(f"window.__waengine && window.__waengine.ack({json.dumps(done)})")

    def _deliver(self, event: dict, in_order: bool) -> bool | None:
        """Hand a page event to the sink (the outbox) once: True if now, False if already,
        None if not (the page keeps it for the next try): the sink failed, or held it (False:
        its media is being stored, MEDIA_STORE), or an earlier event is still undelivered.

        `in_order`: the events come from the front of the page's queue (a poll), so none
        can overtake an undelivered one; a push brings only the newest.
        """
        with self._deliver_lock:
            if event["id"] in self._delivered_ids:
                return False
            if not in_order and self._blocked not in (None, event["id"]):
                self._skipped_push = True  # the poll that takes the blocked one brings it
                return None
            try:
                taken = self._on_event(self, event["type"], event["data"]) is not False
            except StorageUnavailable as e:
                # Our database (locked, full disk), not the event: it stays queued in the page.
                # A poll raises it to the worker, which keeps the browser and backs off (_run);
                # a push wakes the worker so that it does.
                self._blocked, self._held = event["id"], False
                if in_order:
                    raise
                log.warning("session %s: event %s kept in the page: %s", self.id, event["id"],
                            e.message)
                self._wake()
                return None
            except Exception:
                log.exception("session %s: event %s not delivered", self.id, event["id"])
                taken = None
            if not taken:
                self._blocked, self._held = event["id"], taken is False
                if self._held and not in_order:
                    self._wake()  # a worker asleep for a safety interval: poll it back now
                return None
            if self._blocked == event["id"]:
                self._blocked, self._held = None, False
            self._delivered.append(event["id"])
            self._delivered_ids.add(event["id"])
            if len(self._delivered) > DELIVERED_MEMORY:
                self._delivered_ids.discard(self._delivered.popleft())
        self.touch()
        self._saw_traffic(event["type"], event["data"])
        return True

    def _pump(self) -> None:
        try:
            with self._busy():
                state = self._bridge.poll(self._ack)
        except CommandTimeout:
            # chromedriver waits out the script timeout for a poll a navigation swallowed, so
            # one timeout is a reload; several in a row are a page that stopped answering.
            self._poll_timeouts += 1
            log.warning("session %s: poll timed out (%d in a row)", self.id, self._poll_timeouts)
            if self._poll_timeouts >= self._config["STUCK_POLLS"]:
                raise Restart("browser_stuck", counts_as_failure=True) from None
            return
        except BrowserUnavailable:
            return  # the document went away mid-call: poll the new one next time
        self._poll_timeouts = 0
        self._ack = []
        self._note_document(state.get("doc"))
        if state.get("version"):
            self.wa = versions(state)
        for event in state.get("events") or ():
            # Delivered to the sink (outbox) first; acknowledged to the page on the next poll.
            if self._deliver(event, in_order=True) is None:
                break  # held or failed: this one and the rest stay queued in the page, in order
            self._ack.append(event["id"])
        else:
            self._unblock()  # every event the page had is delivered
        self._apply(state)

    def _note_document(self, doc: str | None) -> None:
        """Count a new document (reload, navigation); the bridge re-registered itself in it."""
        if doc and self._doc and doc != self._doc:
            counters.PAGE_RELOADS.inc()
            self.wa = {"version": None, "injected": False}  # until the new document reports
            log.info("session %s: page reloaded; bridge re-installed in the new document",
                     self.id)
        if doc:
            self._doc = doc
