"""The wiring: `Engine` assembles store, chromedriver, sessions, events and ops.

Built by create_app, started by a server hook. It sits above `engine/`, `events/` and `ops/`
so none of them imports another through a package `__init__` (no import cycle).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from .cache import SessionCache
from .engine import browser as chromium
from .engine import catchup
from .engine.calls import CallRejecter
from .engine.manager import ChromiumFactory, SessionManager
from .engine.outgoing import Dispatcher, OutgoingQueue
from .engine.page import SendOp
from .engine.receipts import Receipts, match_ack
from .events import EventHub
from .events.sinks import key as sink_key
from .media import LocalMediaStore, MediaKeeper, store_from_config
from .ops import memory
from .ops.reaper import SessionReaper
from .ops.watchdog import MemoryWatchdog
from .store import Store, check_database

log = logging.getLogger(__name__)


class Engine:
    def __init__(self, config: dict, factory=None):
        self.config = config
        self.data_dir = Path(config["DATA_DIR"]).resolve()
        self.profiles = self.data_dir / "profiles"
        check_database(self.data_dir)
        self.store = Store(self.data_dir / "waengine.db", config["STORE_BUSY_TIMEOUT"])
        self.driver_pidfile = self.data_dir / "chromedriver.pid"
        self.service = chromium.ChromeDriverService(config, pidfile=self.driver_pidfile)
        factory = factory or ChromiumFactory(config, self.service, self.profiles)
        self.events = EventHub(self.store, config)
        self.cache = SessionCache.from_config(config)
        self.events.sender.secret_for = self._webhook_secret
        self.events.session_of = self._session
        self.media_store = store_from_config(config, self.data_dir)
        self.media = MediaKeeper(self.media_store, config, self._publish) \
            if self.media_store is not None else None
        self.manager = SessionManager(config, self.store, factory, self.profiles,
                                      on_event=self._on_event)
        self.manager.load()
        self.outgoing = OutgoingQueue(self.store, config)
        self.senders = Dispatcher(self.outgoing, config, on_result=self._send_ended)
        self.receipts = Receipts(self.store, self.outgoing.clock)
        self.manager.on_delete.append(
            lambda sid, purged: self.receipts.forget_session(sid) if purged else None)
        self.manager.on_delete.append(
            lambda sid, purged: self.senders.drop(sid, forget=purged))
        # Purge means nothing of the session remains: its events and pending deliveries too.
        self.manager.on_delete.append(
            lambda sid, purged: self.events.outbox.forget_session(sid) if purged else None)
        # A stopped session keeps nothing cached (its status event clears it too; this covers
        # a session that was already STOPPED or FAILED, and purges).
        self.manager.on_delete.append(
            lambda sid, purged: self.cache.forget(sid) if purged else self.cache.clear(sid))
        if isinstance(self.media_store, LocalMediaStore):  # a purge leaves no file behind
            self.manager.on_delete.append(
                lambda sid, purged: self.media_store.forget(sid) if purged else None)
        self.watchdog = MemoryWatchdog(self)
        self.reaper = SessionReaper(self)
        self.manager.memory_guard = self.watchdog.admission_refusal
        self.manager.on_connected = lambda session, bridge: catchup.run(
            session, bridge, self.events.outbox, self._on_event, config["UNDECRYPTABLE_AFTER"])
        self.calls = CallRejecter(config, self._queue_reply)
        self.started = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Reap browsers a dead process left behind, then restore the sessions that were running."""
        with self._lock:
            if self.started:
                return
            self.started = True
            memory.limit_malloc_arenas()  # before this process starts its threads
            self.profiles.mkdir(parents=True, exist_ok=True)
            chromium.sweep(self.profiles, pidfile=self.driver_pidfile)
            if hasattr(self.manager.factory, "start"):
                self.manager.factory.start()  # the warm pool (WARM_BROWSERS), after the sweep
            self.events.start()
            restored = self.manager.restore()
            self.senders.resume(self.manager.list())
            self.watchdog.start()
            self.reaper.start()
            log.info("engine started; restoring %d session(s)", restored)

    def stop(self) -> None:
        with self._lock:
            if not self.started:
                return
            self.started = False
        # First: neither may recycle or reap sessions that are being shut down.
        self.watchdog.stop()
        self.reaper.stop()
        self.senders.stop()
        self.manager.shutdown()
        if hasattr(self.manager.factory, "stop"):
            self.manager.factory.stop()  # the warm pool's browsers
        if self.media is not None:
            self.media.stop()  # after the sessions: what is left fails fast and still publishes
        self.service.stop()
        self.events.stop()
        log.info("engine stopped")

    def send(self, session, op: SendOp, args: dict, idempotency_key: str | None = None) -> dict:
        """Queue a send through the session's pacer; wait for it up to COMMAND_TIMEOUT."""
        op = SendOp(op).value
        row = (self.outgoing.by_key(session.id, idempotency_key, op, args) if idempotency_key
               else None)
        if row is None:  # a retried POST answers with its first send, whatever the session does
            session.check_ready()
            row = self.outgoing.submit(session, op, args, idempotency_key)
        self.senders.ensure(session)
        session.touch()
        if session.detail:  # the stream is down: queued (202) until it is back, not a wait
            return row
        # A little longer than the command itself may take, so a timeout is reported as one.
        return self.outgoing.wait(session.id, row["id"], self.config["COMMAND_TIMEOUT"] + 2.0)

    def _on_event(self, session, kind: str, data: dict) -> bool:
        """Every engine event; False holds a page event until its media is stored (MEDIA_STORE)."""
        if kind == "message" and self.media is not None and self.media.wants(data):
            return self.media.hold(session, data)
        if kind == "message.ack":  # named by the id the send answered with
            data = match_ack(self.outgoing, self.receipts, session.id, data)
        self._publish(session, kind, data)
        if kind == "call.received":  # after it is stored: the rejection follows the event
            self.calls.on_call(session, data)
        return True

    def _queue_reply(self, session, op: str, args: dict, idempotency_key: str) -> None:
        """Queue a send the engine itself makes (a call's auto-reply): paced like any other."""
        self.outgoing.submit(session, op, args, idempotency_key)
        self.senders.ensure(session)

    def _publish(self, session, kind: str, data: dict) -> None:
        """The cache drops lists the event makes stale, then the outbox gets it."""
        self.cache.on_event(session.id, kind, data)
        self.events.publish(session, kind, data)

    def send_status(self, session_id: str, message_id: str) -> dict | None:
        """A send by queue id or message id; a group send with its members' receipts."""
        row = self.outgoing.get(session_id, message_id)
        if row and (row["args"].get("to") or "").endswith("@g.us") and row.get("message"):
            row["receipts"] = self.receipts.of(session_id, row["message"]["id"])
        return row

    def queue_many(self, session, op: SendOp, items: list[dict]) -> list[dict]:
        """Queue several sends (bulk); each is stored before this returns."""
        rows = [self.outgoing.submit(session, SendOp(op).value, args, None) for args in items]
        self.senders.ensure(session)
        session.touch()
        return rows

    def _session(self, session_id: str):
        return next((s for s in self.manager.list() if s.id == session_id), None)

    def _webhook_secret(self, session_id: str, url: str) -> str | None:
        return self.events.secret(self._session(session_id), url)

    def set_sinks(self, session_id: str, sinks: list[dict]) -> dict:
        """Replace the session's own sinks (its next events go to them); their masked views.

        A URL given as shown (secrets masked) keeps the stored sink's secrets."""
        stored = {sink_key(s["url"]): s["url"] for s in self._own_sinks(session_id)}
        sinks = [{**s, "url": stored.get(s["url"], s["url"])} for s in sinks]
        self.manager.update_options(session_id, sinks=sinks or None)
        return self.sinks(session_id)

    def sinks(self, session_id: str) -> dict:
        """The session's own sinks and the gateway-wide ones (SINKS), secrets masked."""
        def view(group):
            return [{"url": sink_key(s["url"]), "events": s.get("events") or []} for s in group]
        return {"sinks": view(self._own_sinks(session_id)),
                "gatewaySinks": view(self.config["SINKS"])}

    def _own_sinks(self, session_id: str) -> list[dict]:
        return (self.manager.get(session_id).options or {}).get("sinks") or []

    def sink_health(self) -> list[dict]:
        """Each sink published to: whether its broker takes events, since when it fails."""
        return self.events.sink_sender.report()

    def _send_ended(self, session, row: dict) -> None:
        self.events.publish(session, "message.status", row)

    def close(self) -> None:
        self.stop()
        self.store.close()
