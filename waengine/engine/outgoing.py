"""Outgoing messages: a durable, paced queue per session (anti-ban), with idempotent submits.

Every send is stored before it is attempted and keeps its row until it is sent or has failed
for good, so a restart of the gateway loses nothing. A sender thread per session spaces the
sends (minimum interval plus jitter), enforces an optional daily cap and can show "typing…".
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable

from ..backoff import backoff, store_retry
from ..errors import (
    BrowserUnavailable,
    CommandTimeout,
    IdempotencyKeyReused,
    LeaseLost,
    SendFailedTransient,
    SessionNotReady,
    StorageUnavailable,
    TooManyRequests,
    WAEngineError,
    WhatsAppUnavailable,
)
from ..store import GroupCommit, StoreBase, utcnow
from ..vocabulary import PENDING_SENDS, STREAM_DETAILS, SendStatus, Status
from .budget import Budget
from .page import Page
from .reachout import ReachOut, is_person, timelock_refusal

log = logging.getLogger(__name__)

# Not sent for sure: the command never reached the page, so trying again cannot duplicate.
RETRYABLE = (SessionNotReady, BrowserUnavailable)
# How long an unknown send waits before it is looked for again (the page may still be sending
# it: WhatsApp keeps a message with the clock icon until its socket is back).
UNKNOWN_RECHECK = 5.0


def pacing_for(config: dict, options: dict) -> dict:
    """The session's pacing: config defaults overridden by the session's `pacing` option."""
    own = (options or {}).get("pacing") or {}
    return {"minInterval": own.get("minInterval", config["SEND_MIN_INTERVAL"]),
            "jitter": own.get("jitter", config["SEND_JITTER"]),
            "dailyCap": own.get("dailyCap", config["SEND_DAILY_CAP"]),
            "typing": own.get("typing", config["SEND_TYPING"]),
            "coldPerHour": own.get("coldPerHour", config.get("COLD_CONTACTS_PER_HOUR", 0)),
            "coldPerDay": own.get("coldPerDay", config.get("COLD_CONTACTS_PER_DAY", 0))}


def typing_ms(text: str | None, chars_per_second: float, cap_ms: int = 5000) -> int:
    """How long a person would type this text, capped: the "typing…" shown before sending."""
    return min(cap_ms, int(len(text or "") / chars_per_second * 1000)) if text else 0


class OutgoingQueue:
    def __init__(self, store: StoreBase, config: dict, clock: Callable[[], float] = time.time):
        self.store = store  # its table comes from waengine/migrations.py
        self.config = config
        self.clock = clock
        self.changed = threading.Condition()
        # Bumped by every change: a sender that saw no work waits for a change after its look,
        # so a send queued between its query and its wait is not left for the full timeout.
        self.version = 0
        self._group = GroupCommit(lambda group: _insert_sends(store, group))

    # ---- submitting ----
    def submit(self, session, op: str, args: dict, idempotency_key: str | None,
               admit: Callable[[], None] | None = None) -> dict:
        """Queue a send (or find the one this idempotency key already made); return its row.

        admit() (the session's readiness check) must pass before a new send is stored; a
        retried POST answers with its first send whatever admit() says. The key is looked up
        only when the insert meets it, or admit() refuses: a new send is one statement."""
        try:
            if admit is not None:
                admit()
            self.check_cap(session)
        except WAEngineError:
            if existing := self._made(session.id, idempotency_key, op, args):
                return existing
            raise
        row_id = f"out_{int(self.clock() * 1000):012x}{os.urandom(5).hex()}"
        values = (row_id, session.id, op, json.dumps(args), idempotency_key, utcnow(),
                  fingerprint(op, args))
        # One statement takes the session's next seq and inserts: two submits that race for a
        # seq (two threads, two nodes) meet the unique (session, seq) and the loser takes the
        # next one; the same key raced in, or sent again, meets (session, idempotency_key) and
        # the send it made is answered.
        while True:
            try:
                rows = self._insert(session.id, values)
            except LeaseLost:
                if existing := self._made(session.id, idempotency_key, op, args):
                    return existing
                raise
            if rows:
                break
            if existing := self._made(session.id, idempotency_key, op, args):
                return existing
        self._notify()
        return _row(rows[0])

    def _made(self, session_id: str, idempotency_key: str | None, op: str,
              args: dict) -> dict | None:
        """The send this Idempotency-Key already made, if there is a key and a send."""
        return self.by_key(session_id, idempotency_key, op, args) if idempotency_key else None

    def _insert(self, session_id: str, values: tuple) -> list:
        """The new send's row (none when its seq or key was taken), under the session's
        lease; on PostgreSQL with the sends other threads make at the same moment, in one
        statement (group commit)."""
        if self.store.backend != "postgresql":
            return self.store.fenced(
                "INSERT INTO outgoing (id, session, seq, op, args, idempotency_key, created_at,"
                " fingerprint) SELECT ?, ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ?"
                " FROM outgoing WHERE session = ? ON CONFLICT DO NOTHING RETURNING *",
                (*values, session_id), session_id=session_id)
        row = self._group((*values, self.store.held.get(session_id)))
        self.store.refused(row, session_id)
        if row["id"] is None:
            return []
        return [{k: v for k, v in row.items() if not k.startswith("fence_")}]

    def check_cap(self, session) -> None:
        """429 with Retry-After when the session's daily cap is reached (a rolling 24 hours)."""
        cap = pacing_for(self.config, session.options)["dailyCap"]
        if not cap:
            return
        since = self.clock() - 86400
        rows = self.store.execute(
            "SELECT COUNT(*) AS n, MIN(sent_at) AS first FROM outgoing WHERE session = ?"
            " AND ((status = 'sent' AND sent_at > ?) OR status IN ('queued', 'unknown'))",
            (session.id, since))
        if rows[0]["n"] >= cap:
            first = rows[0]["first"] or self.clock()
            retry_after = max(1, int(first + 86400 - self.clock()) + 1)
            raise TooManyRequests(f"Daily send cap of {cap} messages reached",
                                  details={"dailyCap": cap},
                                  headers={"Retry-After": str(retry_after)})

    def wait(self, session_id: str, row_id: str, timeout: float,
             settled: Callable[[dict], bool] | None = None) -> dict:
        """Block until the row is sent or failed (or `settled(row)`: held), or the timeout
        passes; return it."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                row = self.get(session_id, row_id)
                remaining = deadline - time.monotonic()
                if row["status"] not in PENDING_SENDS or remaining <= 0 \
                        or (settled is not None and settled(row)):
                    return row
                self.changed.wait(remaining)

    # ---- reading ----
    def get(self, session_id: str, row_id: str) -> dict | None:
        """A send by its queue id, or by the WhatsApp id it was sent with."""
        rows = self.store.execute("SELECT * FROM outgoing WHERE id = ? AND session = ?",
                                  (row_id, session_id))
        if not rows and not row_id.startswith("out_"):  # the key first: the JSON is a scan
            rows = self.store.execute(
                "SELECT * FROM outgoing WHERE session = ?"
                f" AND {self.store.json_text('message', 'id')} = ?", (session_id, row_id))
        return _row(rows[0]) if rows else None

    def by_key(self, session_id: str, key: str, op: str | None = None,
               args: dict | None = None) -> dict | None:
        """The send this Idempotency-Key made; 422 when it was made for another request."""
        rows = self.store.execute(
            "SELECT * FROM outgoing WHERE session = ? AND idempotency_key = ?", (session_id, key))
        if not rows:
            return None
        row = _row(rows[0])
        if op is not None and row.get("fingerprint") and row["fingerprint"] != fingerprint(op, args):
            raise IdempotencyKeyReused(details={"queueId": row["id"]})
        return row

    def by_key_id(self, session_id: str, key_id: str) -> dict | None:
        """The send whose WhatsApp id has this random id part (what a receipt names)."""
        rows = self.store.execute(
            "SELECT * FROM outgoing WHERE session = ? AND key_id = ? LIMIT 1",
            (session_id, key_id))
        return _row(rows[0]) if rows else None

    def next_queued(self, session_id: str, skip_cold: bool = False) -> dict | None:
        """The send to attempt next; `skip_cold`: not one known to go to a new contact (held
        by a reach-out limit, engine/reachout.py)."""
        cold = " AND (cold IS NULL OR cold = 0 OR status = 'unknown')" if skip_cold else ""
        rows = self.store.execute(
            "SELECT * FROM outgoing WHERE session = ? AND status IN ('queued', 'unknown')"
            f"{cold} ORDER BY seq LIMIT 1",
            (session_id,))
        return _row(rows[0]) if rows else None

    def set_cold(self, row_id: str, cold: bool) -> None:
        """Record whether a send goes to a person the account has no chat with."""
        self._update("UPDATE outgoing SET cold = ? WHERE id = ?", (1 if cold else 0, row_id),
                     row_id)
        self._notify()

    def hold_refused(self, row_id: str, error: WAEngineError) -> None:
        """WhatsApp's reach-out timelock refused this cold send: queued again (held until the
        timelock ends), never failed."""
        self._update(
            "UPDATE outgoing SET status = 'queued', cold = 1, attempts = attempts + 1, error = ?"
            " WHERE id = ?", (json.dumps(error_record(error)), row_id), row_id)
        self._notify()

    def last_sent_at(self, session_id: str) -> float | None:
        rows = self.store.execute(
            "SELECT MAX(sent_at) AS t FROM outgoing WHERE session = ? AND status = 'sent'",
            (session_id,))
        return rows[0]["t"]

    # ---- results ----
    def finish(self, row_id: str, message: dict | None, error: WAEngineError | None) -> None:
        if error is None:
            # json_remove: a sent file's bytes need not stay in the database.
            self._update(
                "UPDATE outgoing SET status = 'sent', attempts = attempts + 1, message = ?,"
                f" sent_at = ?, error = NULL, args = {self.store.json_without('args', 'data')}"
                " WHERE id = ?", (json.dumps(message), self.clock(), row_id), row_id)
        else:
            self._update(
                "UPDATE outgoing SET status = 'failed', attempts = attempts + 1, error = ?"
                " WHERE id = ?", (json.dumps(error_record(error)), row_id), row_id)
        self._notify()

    def retry_after_failure(self, row_id: str, error: WAEngineError, delay: float,
                            refusals: int) -> None:
        """WhatsApp refused this attempt for a passing reason (the `refusals`-th time): queued
        again, not before `delay` seconds (its id stays, so the next attempt first looks for it
        in the chat)."""
        err = {**error_record(error), "refusals": refusals}
        self._update(
            "UPDATE outgoing SET status = 'queued', attempts = attempts + 1, error = ?,"
            " retry_at = ? WHERE id = ?", (json.dumps(err), self.clock() + delay, row_id), row_id)
        self._notify()

    def retry_later(self, row_id: str) -> None:
        self._update("UPDATE outgoing SET attempts = attempts + 1 WHERE id = ?", (row_id,), row_id)

    def assign_id(self, row_id: str, wa_id: str) -> None:
        """Record the WhatsApp id a send will carry, before it is attempted."""
        parts = wa_id.split("_")
        self._update("UPDATE outgoing SET wa_id = ?, key_id = ? WHERE id = ?",
                     (wa_id, parts[2] if len(parts) >= 3 else None, row_id), row_id)

    def mark_unknown(self, row_id: str, error: WAEngineError | None,
                     recheck: float = 0.0) -> None:
        """The browser died or timed out during the send: it may or may not have reached
        WhatsApp. It is looked for again, not before `recheck` seconds (`error` None keeps the
        one recorded)."""
        err = error and {"status": error.status, "code": error.code, "message": error.message,
                         "details": error.details}
        self._update(
            "UPDATE outgoing SET status = 'unknown', attempts = attempts + 1,"
            " error = COALESCE(?, error), retry_at = ? WHERE id = ?",
            (err and json.dumps(err), self.clock() + recheck if recheck else None, row_id),
            row_id)
        self._notify()

    def forget_session(self, session_id: str) -> None:
        self.store.execute("DELETE FROM outgoing WHERE session = ?", (session_id,))
        self._notify()

    def _update(self, sql: str, args: tuple, row_id: str) -> None:
        """A send's state changes only under its session's lease (LeaseLost otherwise)."""
        self.store.fenced(sql, args, row_of=("outgoing", row_id))

    def _notify(self) -> None:
        with self.changed:
            self.version += 1
            self.changed.notify_all()


def _insert_sends(store: StoreBase, group: list[tuple]) -> list[dict]:
    """PostgreSQL: new sends (row id, session, op, args, key, created, fingerprint, held
    epoch) as one statement: each takes its session's next seq (one after another within the
    group); each one's row, with its fence columns (id None when its seq or key was taken)."""
    fence, fence_args = store.fence_each()
    return store.execute(
        "WITH input AS (SELECT * FROM json_to_recordset(CAST(? AS json)) AS i (n bigint,"
        " id text, session text, op text, args text, idempotency_key text, created_at text,"
        f" fingerprint text, held bigint)){fence}, added AS (INSERT INTO outgoing (id, session,"
        " seq, op, args, idempotency_key, created_at, fingerprint) SELECT i.id, i.session,"
        " COALESCE((SELECT MAX(o.seq) FROM outgoing o WHERE o.session = i.session), 0)"
        " + row_number() OVER (PARTITION BY i.session ORDER BY i.n), i.op, i.args,"
        " i.idempotency_key, i.created_at, i.fingerprint FROM input i JOIN fence f"
        " ON f.n = i.n WHERE f.fence_ok ON CONFLICT DO NOTHING RETURNING *)"
        " SELECT f.fence_ok, f.fence_node, f.fence_epoch, a.* FROM fence f"
        " JOIN input i ON i.n = f.n LEFT JOIN added a ON a.id = i.id ORDER BY f.n",
        (json.dumps([dict(zip(("n", "id", "session", "op", "args", "idempotency_key",
                               "created_at", "fingerprint", "held"), (n, *values)))
                     for n, values in enumerate(group)], ensure_ascii=False), *fence_args))


def error_record(error: WAEngineError) -> dict:
    """A send's error as stored; `reason` is WhatsApp's SendMsgResult when it gave one."""
    wa_code = (error.details or {}).get("waCode") or ""
    reason = wa_code[len("send_"):].upper() if wa_code.startswith("send_error_") else error.code
    return {"status": error.status, "code": error.code, "message": error.message,
            "details": error.details, "reason": reason}


def fingerprint(op: str, args: dict | None) -> str:
    """What makes two sends the same request (the file's bytes included, as sent)."""
    text = json.dumps([op, args or {}], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _row(row) -> dict:
    d = dict(row)
    d["args"] = json.loads(d["args"])
    d["message"] = json.loads(d["message"]) if d["message"] else None
    d["error"] = json.loads(d["error"]) if d["error"] else None
    return d


class Sender:
    """One thread per running session: takes queued sends in order and paces them."""

    def __init__(self, session, queue: OutgoingQueue, config: dict,
                 on_result: Callable[[object, dict], None], rand=random.random,
                 reach: ReachOut | None = None):
        self.session = session
        self.queue = queue
        self.reach = reach
        self.config = config
        self.on_result = on_result
        self.rand = rand
        self._options_seen: dict | None = None
        self._pacing: dict = {}
        self.budget = Budget.of(config)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"wa-send-{session.id}",
                                        daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.queue._notify()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(10)
            if self._thread.is_alive():
                log.warning("%s did not stop within 10s", self._thread.name)

    def _idle(self, seconds: float, seen: int | None = None) -> bool:
        """Wait for a change after version `seen` (new work) or the time to pass; False when
        stopping."""
        with self.queue.changed:
            self.queue.changed.wait_for(
                lambda: self._stop.is_set() or (seen is not None and self.queue.version != seen),
                seconds)
        return not self._stop.is_set()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._step()
                failures = 0
            except LeaseLost:  # cluster mode: another node owns the session and its queue
                log.warning("sender of %s stops: the session's lease was lost", self.session.id)
                return
            except StorageUnavailable as e:  # nothing is dropped: the row waits in the store
                failures += 1
                delay = store_retry(failures)
                log.warning("sender of %s: %s; retrying in %.1fs", self.session.id, e.message,
                            delay)
                self._stop.wait(delay)

    def _step(self) -> None:
        seen = self.queue.version
        hold = self.cold_hold()
        row = self.queue.next_queued(self.session.id, skip_cold=hold is not None)
        if row is None:
            # held cold sends wait for the hold to end: look again then (or at a change)
            wait = 5.0 if hold is None else max(0.05, min(5.0, hold["until"] - self.queue.clock()))
            self._idle(wait, seen)
            return
        if not self._ready():
            self._idle(1.0)  # queued sends wait for the session, they are never dropped
            return
        pacing = self.pacing()
        delay = self._pacing_delay(pacing)
        if row.get("retry_at"):  # an attempt WhatsApp refused: it waits, and so does the queue
            delay = max(delay, row["retry_at"] - self.queue.clock())
        if delay > 0:
            self._idle(delay)
            return
        self._send(row, pacing)

    def _ready(self) -> bool:
        """The attempt's readiness gate, read just before it (the request ran check_ready
        when it accepted the send; this is the moment the page is called, maybe much later):
        CONNECTED with its stream up, the worker running and not stuck in a call that outlived
        its timeout. A session that stopped or failed in between keeps its sends queued. A
        DEGRADED session (engine/ladder.py) tries them, one at a time: the probe that sees its
        socket carry again."""
        session = self.session
        return (session.status is Status.CONNECTED
                and getattr(session, "detail", None) not in STREAM_DETAILS
                and session.running and not session.busy_for() > self.budget.total)

    def pacing(self) -> dict:
        """The session's pacing, looked up again only when its options change (a PUT
        /pacing stores a new options mapping)."""
        options = self.session.options
        if options is not self._options_seen:
            self._pacing, self._options_seen = pacing_for(self.config, options), options
        return self._pacing

    def _pacing_delay(self, pacing: dict) -> float:
        last = self.queue.last_sent_at(self.session.id)
        if not last or not pacing["minInterval"]:
            return 0.0
        gap = pacing["minInterval"] + pacing["jitter"] * self.rand()
        return last + gap - self.queue.clock()

    def _send(self, row: dict, pacing: dict) -> None:
        args = row["args"]
        page = Page(self.session, checked=True)  # _step's _ready() was the attempt's check
        if self.reach is not None and row.get("cold") is None and is_person(args.get("to")):
            if not self._classify(page, row):
                return  # held (a new contact while a reach-out limit holds), or to look again
        wa_id = row.get("wa_id")
        try:
            if wa_id:
                # An attempt with this id may have reached WhatsApp before a browser or the
                # gateway died: look for it, and send only if it is not there.
                found = page.find_sent(wa_id)
                if found and found.get("pending"):  # the page still holds it: look again later
                    log.info("send %s of %s is still in the page", row["id"], self.session.id)
                    self._record(lambda: self.queue.mark_unknown(
                        row["id"], None, recheck=UNKNOWN_RECHECK))
                    return
                if found:
                    log.info("send %s of %s had been sent already", row["id"], self.session.id)
                    self._report("flowed")
                    self._record(lambda: self.queue.finish(row["id"], found, None))
                    self._ended(row)
                    return
            else:
                wa_id = self._assign_id(page, row)
            if pacing["typing"]:
                ms = typing_ms(args.get("text") or args.get("caption"),
                               self.config["SEND_TYPING_CPS"])
                if ms:
                    page.typing(args["to"], ms)
            message = page.send(row["op"], args, message_id=wa_id)
        except StorageUnavailable:
            raise  # our database, not the send: the sender backs off and tries the row again
        except RETRYABLE as e:
            if wa_id is None or isinstance(e, SessionNotReady) or row["status"] == SendStatus.UNKNOWN:
                self.queue.retry_later(row["id"])  # nothing new reached WhatsApp
                self._stop.wait(1.0)
                return
            log.warning("send %s of %s: outcome unknown (%s); it is looked for after the "
                        "relaunch", row["id"], self.session.id, e.message)
            self._record(lambda err=e: self.queue.mark_unknown(row["id"], err))
        except (SendFailedTransient, WhatsAppUnavailable) as e:
            # refused for a passing reason, or the recipient lookup got no answer (nothing
            # was sent then): tried again under the pacer
            self._report("send_refused")
            if self._retry(row, e):
                return
        except CommandTimeout as e:
            # The page may still send it (a send waits for WhatsApp's socket), so it is not a
            # failure: unknown, looked for by its id later, never sent twice.
            log.warning("send %s of %s timed out; its outcome is looked for", row["id"],
                        self.session.id)
            self._report("send_timed_out")
            self._record(lambda err=e: self.queue.mark_unknown(row["id"], err,
                                                              recheck=UNKNOWN_RECHECK))
        except WAEngineError as e:
            if self._timelocked(row, e):
                self._record(lambda err=e: self.queue.hold_refused(row["id"], err))
            else:
                self._record(lambda err=e: self.queue.finish(row["id"], None, err))
        except Exception:
            log.exception("send %s of %s failed unexpectedly", row["id"], self.session.id)
            self._record(lambda: self.queue.finish(row["id"], None, WAEngineError()))
        else:
            self._report("flowed")
            self._record(lambda: self.queue.finish(row["id"], message, None))
        self._ended(row)

    def _report(self, sign: str) -> None:
        """Tell the session's dead-socket watch (engine/ladder.py) how a send went."""
        ladder = getattr(self.session, "ladder", None)
        if ladder is not None:
            getattr(ladder, sign)()

    # ---- reach-out limits (engine/reachout.py) ----
    def cold_hold(self) -> dict | None:
        """{reason, until} while this session's sends to new contacts must wait."""
        return self.reach.hold(self.session.id, self.pacing()) if self.reach is not None else None

    def _classify(self, page: Page, row: dict) -> bool:
        """Record whether a send goes to a new contact; False when it does not go now (held,
        or the page could not tell: it is looked at again)."""
        try:
            cold = not page.chat_known(row["args"]["to"])
        except StorageUnavailable:
            raise
        except WAEngineError as e:
            log.info("send %s of %s waits: %s", row["id"], self.session.id, e.message)
            self.queue.retry_later(row["id"])
            self._stop.wait(1.0)
            return False
        self._record(lambda: self.queue.set_cold(row["id"], cold))
        row["cold"] = 1 if cold else 0
        if cold and self.cold_hold() is not None:
            self._ended(row)  # message.status: held
            return False
        return True

    def _timelocked(self, row: dict, error: WAEngineError) -> bool:
        """A send WhatsApp refused with its reach-out timelock: the session is restricted
        (session.restricted) and the send held, not failed."""
        if self.reach is None or not is_person(row["args"].get("to")) \
                or not timelock_refusal(error, row.get("cold") == 1,
                                        bool(self.config.get("COLD_UNKNOWN_IS_TIMELOCK"))):
            return False
        self.reach.restrict(self.session.id, self.reach.until_of(error))
        return True

    def _retry(self, row: dict, error: WAEngineError) -> bool:
        """Queue a refused send again with a growing delay; False once it has had all its
        tries (SEND_RETRIES), and it fails."""
        tries = int(self.config["SEND_RETRIES"])
        # Refusals, not attempts: waits for the session to be ready count as attempts too.
        done = int((row.get("error") or {}).get("refusals") or 0)
        if done >= tries:
            self._record(lambda: self.queue.finish(row["id"], None, error))
            return False
        delay = backoff(done + 1, self.config["SEND_RETRY_DELAY"], 60.0)
        log.info("send %s of %s refused (%s): retry %d of %d in %.1fs", row["id"],
                 self.session.id, error.message, done + 1, tries, delay)
        self._record(lambda: self.queue.retry_after_failure(row["id"], error, delay, done + 1))
        self._ended(row)
        return True

    def _ended(self, row: dict) -> None:
        self.on_result(self.session, self.queue.get(self.session.id, row["id"]))

    def _record(self, write: Callable[[], None]) -> None:
        """Store a send's outcome, retrying while the store is down (a sent message that is
        not recorded would be looked up again, but never reported)."""
        failures = 0
        while True:
            try:
                write()
                return
            except StorageUnavailable as e:
                failures += 1
                delay = store_retry(failures)
                log.warning("send result of %s kept for %.1fs: %s", self.session.id, delay,
                            e.message)
                if self._stop.wait(delay):
                    return

    def _assign_id(self, page: Page, row: dict) -> str:
        wa_id = page.new_message_id(row["args"]["to"])
        self.queue.assign_id(row["id"], wa_id)
        return wa_id


class Dispatcher:
    """Keeps one Sender per session that has work, and tells the event hub how sends ended."""

    def __init__(self, queue: OutgoingQueue, config: dict, on_result: Callable,
                 reach: ReachOut | None = None):
        self.queue = queue
        self.config = config
        self.on_result = on_result
        self.reach = reach
        self._senders: dict[str, Sender] = {}
        self._lock = threading.Lock()

    def ensure(self, session) -> None:
        with self._lock:
            sender = self._senders.get(session.id)
            if sender is None or not sender._thread.is_alive():
                sender = self._senders[session.id] = Sender(session, self.queue, self.config,
                                                            self.on_result, reach=self.reach)
                sender.start()

    def resume(self, sessions) -> None:
        """After a restart: a sender for every session that still has queued sends."""
        for session in sessions:
            if self.queue.next_queued(session.id):
                self.ensure(session)

    def drop(self, session_id: str, forget: bool = False) -> None:
        with self._lock:
            sender = self._senders.pop(session_id, None)
        if sender:
            sender.stop()
        if forget:
            self.queue.forget_session(session_id)

    def stop(self) -> None:
        for session_id in list(self._senders):
            self.drop(session_id)
