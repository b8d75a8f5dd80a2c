"""The wiring: `Engine` assembles store, chromedriver, sessions, events and ops.

Built by create_app, started by a server hook. It sits above `engine/`, `events/` and `ops/`
so none of them imports another through a package `__init__` (no import cycle).

It is also the one door of the API: views call Engine methods with a session id and get plain
values back; no view holds a manager, session, outbox or chromedriver service object.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from . import failover, shapes
from .backends import open_store
from .cache import Body, SessionCache
from .cluster import LeaseGuard, Leases, NodeKeeper, node_id_for
from .engine import catchup, driver, processes
from .engine.budget import Budget
from .engine.calls import CallRejecter, call_policy
from .engine.identities import ContactIds, merge_contacts
from .engine.manager import ChromiumFactory, SessionManager
from .engine.outgoing import Dispatcher, OutgoingQueue, pacing_for
from .engine.page import Page, SendOp, pairing_code_text
from .engine.proxy import redact_proxy
from .engine.reachout import Lookups, ReachOut
from .engine.reachout import event_of as restriction_event
from .engine.receipts import Receipts, key_id, match_ack
from .errors import LeaseLost, NotFound, SessionNotReady
from .events import EventHub, websocket
from .events.sinks import key as sink_key
from .forward import LOCAL_HEADER, Forwarder
from .media import LocalMediaStore, MediaKeeper, store_from_config
from .moves import Mover
from .ops import memory
from .ops.activity import session_activity
from .ops.history import capacity
from .ops.reaper import SessionReaper
from .ops.watchdog import MemorySample, MemoryWatchdog, measure
from .snapshots import Snapshots, Snapshotter, warn_unencrypted
from .store import iso_utc, private_folder
from .vocabulary import RESTRICTED, Status

# The lists a session caches (api/ reads them through Engine.cached_list), and the page read
# that loads each.
LISTS: dict[str, Callable[[Page], list[dict]]] = {
    "chats": Page.list_chats, "contacts": Page.list_contacts, "groups": Page.list_groups}

log = logging.getLogger(__name__)
MIN_FREE_BYTES = 1 << 20  # SQLite cannot commit an event on a full disk


class Engine:
    def __init__(self, config: dict, factory=None):
        self.config = config
        self.data_dir = Path(config["DATA_DIR"]).resolve()
        self.profiles = self.data_dir / "profiles"
        self.store = open_store(config, self.data_dir)
        # A node with a heartbeat; on PostgreSQL (cluster mode) it leases the sessions it runs.
        self.leases = Leases(self.store, node_id_for(config), float(config["LEASE_TTL"]),
                             fence=bool(config.get("DATABASE_URL")))
        self.driver_pidfile = self.data_dir / "chromedriver.pid"
        self.service = driver.ChromeDriverService(config, pidfile=self.driver_pidfile)
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
        self.reach = ReachOut(self.store, config, self.outgoing.clock,
                              on_restricted=self._restricted)
        self.lookups = Lookups(config, self.outgoing.clock)
        self.ids = ContactIds(self.store, self.outgoing.clock)
        self.senders = Dispatcher(self.outgoing, config, on_result=self._send_ended,
                                  reach=self.reach)
        self.manager.on_delete.append(
            lambda sid, purged: (self.reach.forget(sid), self.lookups.forget(sid),
                                 self.ids.forget(sid)) if purged else None)
        self.receipts = Receipts(self.store, self.outgoing.clock)
        self.manager.on_delete.append(
            lambda sid, purged: self.receipts.forget_session(sid) if purged else None)
        self.manager.on_delete.append(
            lambda sid, purged: self.senders.drop(sid, forget=purged))
        # Purge means nothing of the session remains: its events and pending deliveries too.
        self.manager.on_delete.append(
            lambda sid, purged: self.events.outbox.forget_session(sid) if purged else None)
        self.manager.on_delete.append(
            lambda sid, purged: self.events.history.forget_session(sid) if purged else None)
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
        self.node = NodeKeeper(self, self.leases)
        self.snapshots = Snapshots.from_config(config)
        self.snapshotter = Snapshotter(self, self.snapshots) if self.snapshots else None
        if self.snapshots is not None:
            warn_unencrypted(config)
            self.manager.after_stop = self.snapshotter.stopped
            self.manager.on_delete.append(
                lambda sid, purged: self.snapshots.forget(sid) if purged else None)
        self.lease_guard = LeaseGuard(self, self.leases)
        # Cluster mode with CLUSTER_SECRET: commands for another node's session go to it.
        self.forwarder = Forwarder(config["CLUSTER_SECRET"], Budget.of(config).total + 10) \
            if config.get("CLUSTER_SECRET") and self.leases.fencing else None
        self.moving: dict[str, str] = {}  # sessions leaving or arriving here: why
        self.mover = Mover(self)
        if self.leases.fencing:  # one node delivers each session's webhooks and sinks
            self.events.outbox.deliverer = (self.leases.node_id, self.leases.ttl)
        if self.leases.fencing:  # a session is restored by the node that takes its lease
            self.manager.may_run = lambda sid: failover.claim(self, sid)
            self.manager.lease_lapsed = self.leases.lapsed
        self.started = False
        self._lock = threading.Lock()

    def start(self) -> None:
        """Reap browsers a dead process left behind, then restore the sessions that were running."""
        with self._lock:
            if self.started:
                return
            self.started = True
            memory.limit_malloc_arenas()  # before this process starts its threads
            private_folder(self.profiles)
            processes.sweep(self.profiles, pidfile=self.driver_pidfile)
            if hasattr(self.manager.factory, "start"):
                self.manager.factory.start()  # the warm pool (WARM_BROWSERS), after the sweep
            self.events.start()
            restored = self.manager.restore()
            self.senders.resume(self.manager.list())
            self.watchdog.start()
            self.node.start()
            self.lease_guard.start()
            self.reaper.start()
            if self.snapshotter is not None:
                self.snapshotter.start()
            log.info("engine started; restoring %d session(s)", restored)

    def stop(self) -> None:
        with self._lock:
            if not self.started:
                return
            self.started = False
        # First: neither may recycle or reap sessions that are being shut down.
        self.watchdog.stop()
        self.reaper.stop()
        self.lease_guard.stop()  # a graceful stop of every session follows
        self.node.stop()
        if self.snapshotter is not None:
            self.snapshotter.stop()  # the stops below take each session's last snapshot
        self.senders.stop()
        self.manager.shutdown()
        if hasattr(self.manager.factory, "stop"):
            self.manager.factory.stop()  # the warm pool's browsers
        if self.media is not None:
            self.media.stop()  # after the sessions: what is left fails fast and still publishes
        self.service.stop()
        self.events.stop()
        log.info("engine stopped")


    # ---- the door: what api/ calls, by session id ----
    def _session(self, session_id: str):
        # The door's ids come from request paths, which request_checks.py checked (422) before any view.
        return self.manager.get(session_id, checked=True)  # 404 session_not_found

    def touch(self, session_id: str) -> None:
        """The session is in use (the reaper does not stop it as idle); 404 when unknown."""
        self._session(session_id).touch()

    def page(self, session_id: str, need_connected: bool = True) -> Page:
        """The session's WhatsApp Web page (404 for an unknown session)."""
        return Page(self._session(session_id), need_connected)

    def session_ids(self) -> list[str]:
        if self.leases.fencing:
            self.manager.load()  # cluster mode: sessions other nodes created since
        return [s.id for s in self.manager.list()]

    # sessions
    def describe(self, session_id: str, activity: dict | None = None) -> dict:
        """The session as GET /sessions/{id} shows it (docs/api.md)."""
        session = self._session(session_id)
        self.manager.refresh(session)  # cluster mode: not run here, as its owner stored it
        data = session.snapshot()
        if data["browser"]:  # the numbers /performance shows: the watchdog's measurement
            mem = self.watchdog.browser_memory(session.id) or {}
            data["browser"].update(rssMb=mem.get("rssMb"), pssMb=mem.get("pssMb"),
                                   processes=mem.get("processes"),
                                   budget=self.watchdog.ladder.usage(session.id,
                                                                     mem.get("pssMb")))
        data["statusSince"] = iso_utc(time.time() - (time.monotonic() - session.status_since))
        data["activity"] = (activity or session_activity(self.store, [session.id]))[session.id]
        data["pacing"] = pacing_for(self.config, session.options)
        data["keepAlive"] = bool(session.options.get("keepAlive"))
        data["webhook"] = shapes.webhook(session.options.get("webhook"))
        data.update(call_policy(self.config, session.options))
        data["proxy"] = redact_proxy(session.options.get("proxy"))
        data["historyDays"] = self.events.history.days(session.options)
        data.update(self._restriction_view(session))
        data["node"] = self._node_of(session)
        return data

    def _restriction_view(self, session) -> dict:
        """A restricted session's `restriction`, and its `detail` RESTRICTED with `until` when
        its stream says nothing worse (engine/reachout.py)."""
        found = self.reach.restriction(session.id)
        if found is None:
            return {"restriction": None}
        view = {"restriction": restriction_event(found)}
        if session.status is Status.CONNECTED and not session.detail:
            view.update(detail=RESTRICTED, until=view["restriction"]["until"])
        return view

    def restrictions(self) -> dict:
        """/health: the sessions WhatsApp restricts now, with when it ends."""
        found = {s.id: self.reach.restriction(s.id) for s in self.manager.list()}
        return {sid: restriction_event(r) for sid, r in found.items() if r is not None}

    def describe_all(self, visible: Callable[[str], bool], local: bool = False) -> list[dict]:
        """Every session whose id `visible` allows (a scoped API key sees its own). In a
        cluster: each as the node running it describes it; `local`, only those running here."""
        if local or self.forwarder is None:
            sessions = [s for s in self.manager.list() if visible(s.id)
                        and (not local or s.running)]
            activity = session_activity(self.store, [s.id for s in sessions])
            return [self.describe(s.id, activity) for s in sessions]
        self.manager.load()  # sessions other nodes created
        found = {d["id"]: d for d in self.describe_all(visible, local=True)}
        for node in self._other_nodes():
            for item in self._ask(node, "/sessions").get("data", []):
                if visible(item["id"]):
                    found.setdefault(item["id"], item)
        rest = [s for s in self.manager.list() if visible(s.id) and s.id not in found]
        activity = session_activity(self.store, [s.id for s in rest])
        for session in rest:
            found[session.id] = self.describe(session.id, activity)
        return [found[s.id] for s in self.manager.list() if s.id in found]

    def create_session(self, session_id: str, options: dict) -> dict:
        return self.describe(self.manager.create(session_id, options).id)

    def start_session(self, session_id: str) -> dict:
        return self.describe(self.manager.start(session_id).id)

    def reconnect_session(self, session_id: str) -> dict:
        return self.describe(self.manager.reconnect(session_id).id)

    def delete_session(self, session_id: str, purge: bool) -> dict:
        return self.manager.delete(session_id, purge=purge)

    def set_proxy(self, session_id: str, proxy: str | None) -> dict:
        return self.describe(self.manager.set_proxy(session_id, proxy).id)

    def set_keep_alive(self, session_id: str, keep_alive: bool) -> dict:
        return self.describe(self.manager.update_options(session_id,
                                                         keepAlive=keep_alive or None).id)

    def logout(self, session_id: str) -> dict:
        self.page(session_id).logout()
        return self.describe(session_id)

    def takeover(self, session_id: str) -> dict:
        """Use WhatsApp in this window again; only a session in CONFLICT (409 otherwise)."""
        self._require_status(session_id, Status.CONFLICT, "only CONFLICT takes over")
        self.page(session_id, need_connected=False).takeover()
        return self.describe(session_id)

    def qr(self, session_id: str) -> tuple[str, float | None]:
        """(the QR to scan, when it expires); 409 when the session shows none."""
        session = self._session(session_id)
        qr, expires = session.qr, session.qr_expires_at
        if session.status is not Status.SCAN_QR or not qr:
            raise SessionNotReady(f"Session is {session.status.value}; no QR to scan",
                                  details={"status": session.status.value})
        return qr, expires

    def request_pairing_code(self, session_id: str, phone: Callable[[], str]) -> str:
        """The code to type on the phone, ABCD-EFGH; phone() gives its digits with country
        code, read once the session is known to be waiting for a link (409 otherwise)."""
        self._require_status(session_id, Status.SCAN_QR, "it is linked or not ready")
        return pairing_code_text(self.page(session_id, need_connected=False).pairing_code(phone()))

    def pairing_code(self, session_id: str) -> str:
        """The pairing code in force; 409 when there is none."""
        session = self._session(session_id)
        if session.status is not Status.SCAN_QR or not session.pairing_code:
            raise SessionNotReady(f"Session is {session.status.value}; no pairing code in force",
                                  details={"status": session.status.value})
        return session.pairing_code

    def _require_status(self, session_id: str, status: Status, otherwise: str) -> None:
        session = self._session(session_id)
        if session.status is not status:
            raise SessionNotReady(f"Session is {session.status.value}; {otherwise}",
                                  details={"status": session.status.value})

    def pacing(self, session_id: str) -> dict:
        return pacing_for(self.config, self._session(session_id).options)

    def set_pacing(self, session_id: str, changes: dict) -> dict:
        """Override some of the session's pacing; the pacing in force."""
        own = {**self._session(session_id).options.get("pacing", {}), **changes}
        return pacing_for(self.config, self.manager.update_options(session_id, pacing=own).options)

    def webhook(self, session_id: str) -> dict | None:
        """The session's own webhook as stored (its secret included), or None."""
        return self._session(session_id).options.get("webhook")

    def set_webhook(self, session_id: str, hook: dict | None) -> dict | None:
        """Store the session's webhook (None removes it); the webhook as stored."""
        return self.manager.update_options(session_id, webhook=hook).options.get("webhook")

    # sends
    def send(self, session_id: str, op: SendOp, args: dict | Callable[[], dict],
             idempotency_key: str | None = None) -> dict:
        """Queue a send through the session's pacer; wait for it for the command's budget
        (engine/budget.py): the row, sent, failed, or still queued.

        The session is checked ready once. `args` may be a function that reads them (an upload):
        the check then comes before the body is read (404/409 before 16 MB arrive); otherwise
        after the idempotency lookup, so a retried POST answers with its first send whatever
        the session does now."""
        session = self._session(session_id)
        if callable(args):
            session.check_ready()
            args, admit = args(), None
        else:
            admit = session.check_ready
        row = self.outgoing.submit(session, SendOp(op).value, args, idempotency_key, admit)
        self.senders.ensure(session)
        session.touch()
        if session.detail:  # the stream is down: queued (202) until it is back, not a wait
            return row
        row = self.outgoing.wait(session.id, row["id"], Budget.of(self.config).http,
                                 settled=lambda r: self._held(session, r) is not None)
        return self._with_recipient(session, self._with_hold(session, row))

    def _with_recipient(self, session, row: dict) -> dict:
        """A sent message with `recipientIds` {phone, lid}: the person it went to by both ids
        (the page may file a phone-number send in the person's @lid chat)."""
        if row.get("status") != "sent" or not row.get("message"):
            return row
        to, chat = row["args"].get("to"), row["message"].get("chatId")
        if to and chat and to != chat:
            self.ids.learn(session.id, to, chat, "send") or self.ids.learn(
                session.id, chat, to, "send")
        if not (to or "").endswith(("@c.us", "@lid")):
            return row
        return {**row, "message": {**row["message"],
                                   "recipientIds": self.ids.pair(session.id, to, chat)}}

    def _held(self, session, row: dict) -> dict | None:
        return ReachOut.held(row, self.reach.hold(session.id, pacing_for(self.config,
                                                                          session.options)))

    def _with_hold(self, session, row: dict) -> dict:
        """The row, with `held` {reason, until} while a reach-out limit holds it."""
        held = self._held(session, row)
        return {**row, "held": held} if held else row

    def send_status(self, session_id: str, message_id: str) -> dict:
        """A send by queue id or message id; a group send with its members' receipts."""
        self._session(session_id)
        row = self.outgoing.get(session_id, message_id)
        if row is None:
            raise NotFound(f"No send {message_id!r} in this session")
        if (row["args"].get("to") or "").endswith("@g.us") and row.get("message"):
            row["receipts"] = self.receipts.of(session_id, row["message"]["id"])
        return self._with_hold(self._session(session_id), row)

    def contact_exists(self, session_id: str, number_id: str) -> dict | None:
        """{id, lid, isBusiness} when the number is on WhatsApp, else None: a kept answer,
        or asked of WhatsApp within the session's lookup rate (429 past it)."""
        kept, answer = self.lookups.cached(session_id, number_id)
        if kept:
            return answer
        page = self.page(session_id)
        self.lookups.admit(session_id)
        answer = page.query_exists(number_id)
        self.lookups.keep(session_id, number_id, answer)
        if answer:
            self.ids.learn(session_id, answer.get("id"), answer.get("lid"), "lookup")
        return answer

    def contact(self, session_id: str, contact_id: str) -> dict:
        """A contact by its phone-number id or its @lid, with both ids when either was ever
        learned: WhatsApp Web looks ids up exactly, so the other id is asked too, and one
        person answers as one contact."""
        page = self.page(session_id)
        other = self.ids.other(session_id, contact_id)
        try:
            found = page.get_contact(contact_id)
        except NotFound:
            if not other:
                raise
            found = page.get_contact(other)
        pair = self.ids.pair(session_id, contact_id, found.get("id"), found.get("lid"),
                             found.get("phone") and found["phone"] + "@c.us")
        self.ids.learn(session_id, pair["phone"], pair["lid"], "contact")
        if pair["phone"] and not found.get("phone"):
            found = {**found, "phone": pair["phone"].split("@")[0]}
        if pair["lid"] and not found.get("lid"):
            found = {**found, "lid": pair["lid"]}
        return found

    def queue_many(self, session_id: str, op: SendOp, items: list[dict]) -> list[dict]:
        """Queue several sends (bulk); each is stored before this returns."""
        session = self._session(session_id)
        session.check_ready()
        rows = [self.outgoing.submit(session, SendOp(op).value, args, None) for args in items]
        self.senders.ensure(session)
        session.touch()
        return rows

    # lists and the cache
    def cached_list(self, session_id: str, kind: str, shape: Callable[[dict], dict],
                    refresh: bool = False) -> tuple[Body, bool]:
        """(the list's stored body, whether it came from the cache), loaded from the page on a
        miss; `kind` is one of LISTS."""
        session = self._session(session_id)
        session.touch()  # a client reading from the cache is still using the session (reaper)
        read = LISTS[kind]

        def load() -> list[dict]:
            items = read(Page(session))
            if kind == "contacts":  # each contact that names both ids teaches the pair
                self.ids.learn_from_contacts(session_id, items, "contact")
                items = merge_contacts(items, self.ids.known(session_id))  # one per person
            elif kind == "groups":  # a roster names members by phone id and @lid at times
                for group in items:
                    self.ids.learn_from_contacts(session_id, group.get("participants") or [],
                                                 "group")
            return [shape(item) for item in items]
        return self.cache.fetch_body(session_id, kind, load, refresh)

    def cached_hit(self, session_id: str, kind: str) -> Body | None:
        """The list's stored body when this node answers the read from its cache alone (the
        session runs here, CONNECTED, and the list is cached), counted and the session touched
        as cached_list does; None, with nothing counted or touched, otherwise (fastpath.py)."""
        session = self.manager.find(session_id)
        if session is None or session.status != Status.CONNECTED or not session.running:
            return None
        if self.leases.fencing and (session_id in self.moving or not self._held_here(session)):
            return None  # cluster mode: forward.py decides where the read goes
        body = self.cache.hit(session_id, kind)
        if body is not None:
            session.touch()
        return body

    def invalidate(self, session_id: str, *kinds: str) -> None:
        """The page changed these lists: the next read loads them again."""
        self.cache.invalidate(session_id, *kinds)

    def clear_cache(self, session_id: str) -> int:
        """Drop every cached list of the session; how many there were."""
        self._session(session_id)
        return self.cache.clear(session_id)

    # events
    def deliveries(self, session_id: str, status: str | None, limit: int) -> list[dict]:
        self._session(session_id)
        return self.events.outbox.deliveries(session_id, status, limit)

    def retry_delivery(self, session_id: str, event_id: str) -> int:
        """Deliver an event's failed webhooks again now; 404 when it has none."""
        self._session(session_id)
        count = self.events.outbox.retry(session_id, event_id)
        if not count:
            raise NotFound(f"No undelivered webhook for event {event_id!r}")
        return count

    def recent_events(self, session_id: str, limit: int) -> list[dict]:
        self._session(session_id)
        return self.events.outbox.recent(session_id, limit)

    def event_reader(self, session_id: str | None = None,
                     among: list[str] | None = None) -> Callable[[int], list[dict]]:
        """read(after_seq): the rows of one session (session_id) or of several (`among`,
        None: every session) after a sequence number."""
        outbox = self.events.outbox
        if session_id is not None:
            return lambda after: outbox.since(session_id, after)
        return lambda after: outbox.since_any(among, after)

    def resume_point(self, last_event_id: str | None, tail: int | None = None,
                     among: list[str] | None = None, session: str | None = None) -> int:
        return self.events.resume_point(last_event_id, tail, among, session)

    def sse(self, read: Callable[[int], list[dict]], after: int,
            visible: Callable[[dict], bool] = lambda row: True, key=None):
        """Server-Sent Events text chunks of the rows read(after) returns; `key` (the request's
        ApiKey) decides which stream places it may take."""
        return self.events.stream(read, after, visible, key)

    def message_history(self, session_id: str, **query) -> dict:
        """A page of the session's stored messages (events/history.py), newest first; read
        from the store, so a stopped session's history pages too."""
        self._session(session_id)
        return self.events.history.page(session_id, **query)

    def media_file(self, session_id: str, name: str) -> tuple[Path, dict]:
        """(path, meta) of a file MEDIA_STORE=local kept; 404 otherwise."""
        store = self.media_store
        if store is None or not hasattr(store, "file"):
            raise NotFound("MEDIA_STORE is not local: no files are served here")
        return store.file(session_id, name)

    def websocket(self, environ: dict, read: Callable[[int], list[dict]], after: int,
                  resume: Callable, visible: Callable[[dict], bool] = lambda row: True, key=None):
        """Serve the rows read(after) returns over the request's WebSocket (events/websocket.py)."""
        return websocket.serve(self.events, environ, read, after, resume, visible, key)

    # health and performance
    def session_counts(self) -> dict[str, int]:
        """How many sessions are in each status."""
        return dict(Counter(s.status.value for s in self.manager.list()))

    def degraded_sessions(self) -> dict[str, dict]:
        """Sessions connected but dead (engine/ladder.py): their reason and recovery step."""
        return {s.id: s.ladder.view() for s in self.manager.list() if s.ladder.active}

    def wa_versions(self) -> dict[str, dict]:
        """What each loaded page runs: WhatsApp Web's build and the wa-js bundle's version."""
        return {s.id: {"waVersion": s.wa.get("waVersion"), "waJsVersion": s.wa.get("waJsVersion")}
                for s in self.manager.list() if s.wa.get("waJsVersion")}

    def flapping(self) -> str | None:
        """Why chromedriver keeps dying (DRIVER_FLAPPING crashes in a window), or None."""
        return self.service.flapping()

    def unhealthy_reason(self) -> tuple[str, str] | None:
        """Why the engine cannot serve, as (class, detail), from cheap checks only (a load
        balancer asks every second). The class (engine, threads, browsers, database, disk) is
        all a caller without a key sees: the detail names paths and errors."""
        if not self.started:
            return "engine", "engine not started"
        for name, thread in (("watchdog", self.watchdog), ("reaper", self.reaper)):
            if not thread.alive:
                return "threads", f"the {name} thread is not running"
        if self.watchdog.overdue():
            return "threads", (f"the watchdog has not run for 3 intervals "
                               f"({self.watchdog.interval:.0f}s each)")
        flapping = self.flapping()
        if flapping:
            return "browsers", flapping
        if self.store.failing:
            return "database", f"the database cannot be written: {self.store.failing}"
        if not os.access(self.data_dir, os.W_OK):
            return "disk", f"data folder {self.data_dir} is not writable"
        disk = os.statvfs(self.data_dir)
        if disk.f_bavail * disk.f_frsize < MIN_FREE_BYTES:
            return "disk", f"the disk of data folder {self.data_dir} is full"
        return None

    def memory(self) -> tuple[MemorySample, dict]:
        """(the watchdog's last memory sample, or one measured now; the capacity it leaves)."""
        sample = self.watchdog.last_sample or measure(self)  # before the first pass
        return sample, capacity(self, sample)

    # cluster: any node answers any request (forward.py)
    def owner_url(self, session_id: str, forwarded: bool = False,
                  lifecycle: bool = False) -> str | None:
        """The URL of the node a command for the session goes to; None: this node answers it
        (it runs the session, or no node does and the command may start it here: `lifecycle`).
        503 session_moving while the session is between owners."""
        if not self.leases.fencing:
            return None
        why = self.moving.get(session_id)
        if why:
            raise LeaseLost(f"The session is moving between nodes ({why})",
                            details={"session": session_id, "reason": why})
        session = self.manager.find(session_id)
        if session is not None and self._held_here(session):
            return None  # the common case: served here, no query
        where = self.leases.placement(session_id)
        if where is None or where["node"] == self.leases.node_id:
            return None  # unknown (404 here), or ours
        if where["node"] is not None:
            if forwarded:  # it moved again since the node that sent it looked: the client retries
                raise LeaseLost(details={"session": session_id, "owner": where["node"]})
            if not where["url"]:
                raise LeaseLost("The node that owns the session advertises no NODE_URL",
                                details={"session": session_id, "owner": where["node"]})
            return where["url"]
        if where["desired"] == "running" and not lifecycle:
            raise LeaseLost("No node runs the session for now", details={"session": session_id})
        return None

    def _held_here(self, session) -> bool:
        """Cluster mode: the session runs here under a lease this node holds (no query)."""
        return (session.running and session.id in self.store.held
                and not self.leases.lapsed(session.id))

    def move_session(self, session_id: str, node: str | None) -> dict:
        """Move a session running here to `node` (None: the one with most free capacity)."""
        return self.mover.move(session_id, node, "move")

    def drain_node(self, node_id: str) -> dict:
        """Move every session off a node (this one, or another: asked by a signed request)."""
        if node_id != self.leases.node_id:
            node = next((n for n in self.leases.nodes() if n["id"] == node_id), None)
            if node is None:
                raise NotFound(f"No node {node_id!r}", details={"node": node_id})
            if self.forwarder is None or not node["url"] or not node["alive"]:
                raise SessionNotReady(f"Node {node_id!r} cannot be asked to drain",
                                      details={"node": node_id})
            answer = self.forwarder.request(node["url"], "POST", f"/nodes/{node_id}/drain",
                                            headers={"Accept-Encoding": "identity"})
            return answer.json()
        return {"node": node_id, "draining": True, "moving": self.mover.drain()}

    def adopt_session(self, session_id: str, source: str, reason: str) -> dict:
        return self.mover.adopt(session_id, source, reason)

    def handed_profile(self, session_id: str) -> bytes:
        return self.mover.profile(session_id)

    def publish_event(self, session, kind: str, data: dict) -> None:
        self._publish(session, kind, data)

    def create_target(self) -> str | None:
        """The URL of the node a new session goes to when it is not this one: this node is
        draining, or another has more free capacity (measured); None: here."""
        if self.forwarder is None:
            return None
        me = next((n for n in self.leases.nodes() if n["id"] == self.leases.node_id), None)
        others = [n for n in self._other_nodes() if not n["draining"]]
        if not others:
            return None
        best = max(others, key=lambda n: n["free"])
        if self.mover.draining or me is None or best["free"] > me["free"]:
            return best["url"]
        return None

    def _node_of(self, session) -> str | None:
        if session.running:
            return self.leases.node_id
        if not self.leases.fencing:
            return None
        where = self.leases.placement(session.id)
        return where["node"] if where else None

    def _other_nodes(self) -> list[dict]:
        return [n for n in self.leases.nodes()
                if n["alive"] and n["url"] and n["id"] != self.leases.node_id]

    def _ask(self, node: dict, path: str) -> dict:
        """Another node's own part of a cluster-wide read ({} when it does not answer: the
        node's sessions are then listed from the store)."""
        try:
            answer = self.forwarder.request(node["url"], "GET", path,
                                         headers={LOCAL_HEADER: "1",
                                                  "Accept-Encoding": "identity"},
                                         read_timeout=5.0)
            return answer.json() if answer.status_code == 200 else {}
        except Exception as e:  # unreachable, a timeout: the list goes on without its part
            log.warning("node %s did not answer %s: %s", node["id"], path, e)
            return {}

    def cluster_performance(self, report: dict, local: bool) -> dict:
        """/performance of the whole cluster: every node's sessions, each with its node."""
        report["node"] = self.leases.node_id
        report["sessions"] = [{**item, "node": self.leases.node_id} for item in
                              report["sessions"]
                              if self.forwarder is None or self.manager.get(item["id"]).running]
        if local or self.forwarder is None:
            return report
        for node in self._other_nodes():
            theirs = self._ask(node, "/performance")
            report["sessions"] += theirs.get("sessions", [])
        listed = {item["id"] for item in report["sessions"]}
        for session in self.manager.list():  # run by no node
            if session.id not in listed:
                self.manager.refresh(session)
                report["sessions"].append({"id": session.id, "status": session.status.value,
                                           "browserRssMb": None, "browserPssMb": None,
                                           "processes": 0, "node": None})
        return report

    def nodes(self) -> list[dict]:
        """Every gateway process sharing this store (GET /nodes)."""
        return self.leases.nodes()

    def memory_history(self) -> dict:
        """Memory and sessions over the last hour, one point per watchdog pass."""
        return {"intervalSeconds": self.watchdog.interval, "data": self.watchdog.history.points()}

    def reap_browser(self, session_id: str) -> int:
        """SIGKILL every process of the session's browser, found by its profile folder."""
        return processes.reap_profile(self.profiles / session_id)

    def clear_orphaned_locks(self, profile: Path) -> bool:
        """Remove a dead browser's Singleton locks from a profile folder; True if any."""
        return processes.clear_orphaned_locks(profile)

    def resync_chat(self, session_id: str, chat_id: str, since: float) -> int:
        """Publish the chat's incoming messages since `since` that the event log lacks."""
        session = self._session(session_id)
        session.touch()
        return catchup.resync(session, Page(session), self.events.outbox, self._on_event,
                              chat_id, since)

    def _on_event(self, session, kind: str, data: dict) -> bool:
        """Every engine event; False holds a page event until its media is stored (MEDIA_STORE)."""
        if kind == "message" and self.media is not None and self.media.wants(data):
            return self.media.hold(session, data)
        if kind == "message.ack":  # named by the id the send answered with
            data = match_ack(self.outgoing, self.receipts, session.id, data)
        data = self._with_ids(session, kind, data)
        self._publish(session, kind, data)
        if kind == "call.received":  # after it is stored: the rejection follows the event
            self.calls.on_call(session, data)
        return True

    def _with_ids(self, session, kind: str, data: dict) -> dict:
        """Learn the phone <-> @lid pairs an event names, and carry both ids where one was
        ever learned (engine/identities.py)."""
        if kind in ("message", "message.edited", "message.revoked", "group.notification"):
            self.ids.learn_from_message(session.id, data)
            known = data.get("senderIds") or {}
            pair = self.ids.pair(session.id, known.get("phone"), known.get("lid"),
                                 data.get("author") or data.get("from"),
                                 (data.get("sender") or {}).get("id"))
            data = {**data, "senderIds": pair}
            chat = data.get("chatId")
            if isinstance(chat, str) and chat.endswith(("@c.us", "@lid")):
                data["chatIds"] = self.ids.pair(session.id, chat)
        elif kind == "message.ack":
            chat = data.get("chatId")
            if isinstance(chat, str) and chat.endswith("@lid"):
                # a 1:1 receipt names the recipient by @lid; the send named them by phone
                for mid in data.get("ids") or ():
                    row = self.outgoing.by_key_id(session.id, key_id(mid) or "")
                    if row:
                        self.ids.learn(session.id, row["args"].get("to"), chat, "receipt")
                        break
            by = data.get("sender") or chat
            if isinstance(by, str) and by.endswith(("@c.us", "@lid")):
                data = {**data, "byIds": self.ids.pair(session.id, by)}
        elif kind == "call.received":  # the caller's senderIds, filled in from the map
            known = data.get("senderIds") or {}
            data = {**data, "senderIds": self.ids.pair(session.id, known.get("phone"),
                                                       known.get("lid"), data.get("from"))}
        return data

    def _queue_reply(self, session, op: str, args: dict, idempotency_key: str) -> None:
        """Queue a send the engine itself makes (a call's auto-reply): paced like any other."""
        self.outgoing.submit(session, op, args, idempotency_key)
        self.senders.ensure(session)

    def _publish(self, session, kind: str, data: dict) -> None:
        """The cache drops lists the event makes stale, then the outbox gets it."""
        self.cache.on_event(session.id, kind, data)
        self.events.publish(session, kind, data)

    def _webhook_secret(self, session_id: str, url: str) -> str | None:
        session = next((s for s in self.manager.list() if s.id == session_id), None)
        return self.events.secret(session, url)

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
        return (self._session(session_id).options or {}).get("sinks") or []

    def sink_health(self) -> list[dict]:
        """Each sink published to: whether its broker takes events, since when it fails."""
        return self.events.sink_sender.report()

    def _send_ended(self, session, row: dict) -> None:
        self.events.publish(session, "message.status", self._with_hold(session, row))

    def _restricted(self, session_id: str, record: dict) -> None:
        """WhatsApp's reach-out timelock is on (or longer): session.restricted."""
        session = self._session(session_id)
        self._publish(session, "session.restricted", restriction_event(record))

    def close(self) -> None:
        self.stop()
        self.store.close()
