"""The gateway's reach-out logic: the cold-contact budget's windows, what counts as WhatsApp's
timelock, restrictions kept in the store (both backends), and the lookup rate and cache."""

from __future__ import annotations

import time as clock

import pytest

from waengine import engine_of
from waengine.engine.reachout import (
    BUDGET,
    TIMELOCK,
    Lookups,
    ReachOut,
    budget_end,
    is_person,
    timelock_refusal,
)
from waengine.errors import TooManyRequests, from_page_error

from ..conftest import BACKENDS, wait_for
from .test_outgoing import connected

BOTH = pytest.mark.parametrize("database", BACKENDS, indirect=True)
NOW = 1_800_000_000.0


def test_the_budget_is_free_until_a_window_holds_its_limit():
    assert budget_end([], 2, 10, NOW) is None
    assert budget_end([NOW - 100], 2, 10, NOW) is None
    # two in the hour: the hour frees up when the older leaves it
    assert budget_end([NOW - 100, NOW - 50], 2, 10, NOW) == NOW - 100 + 3600
    # sends older than the hour count for the day only
    day = [NOW - 7200 - i for i in range(10)]
    assert budget_end(day, 2, 10, NOW) == min(day) + 86400
    assert budget_end(day, 2, 0, NOW) is None  # 0: no daily limit
    assert budget_end([NOW - 1] * 5, 0, 0, NOW) is None


def test_a_timelock_is_a_463_nack_or_if_so_configured_a_cold_send_refused_for_no_reason():
    nack = from_page_error("send_error_unknown", "refused")
    nack.details["nack"] = 463
    assert timelock_refusal(nack, cold=False, unknown_is_timelock=False)
    unknown = from_page_error("send_error_unknown", "refused")
    assert not timelock_refusal(unknown, cold=True, unknown_is_timelock=False)
    assert timelock_refusal(unknown, cold=True, unknown_is_timelock=True)
    assert not timelock_refusal(unknown, cold=False, unknown_is_timelock=True)
    network = from_page_error("send_error_network", "offline")
    assert not timelock_refusal(network, cold=True, unknown_is_timelock=True)
    assert is_person("628@c.us") and is_person("1234@lid")
    assert not is_person("1203@g.us") and not is_person("status@broadcast")


@BOTH
def test_a_restriction_is_kept_extended_never_shortened_and_ends_on_time(make_store):
    store = make_store()
    now = [NOW]
    told = []
    reach = ReachOut(store, {"COLD_TIMELOCK_HOLD": 600}, lambda: now[0],
                     on_restricted=lambda sid, r: told.append((sid, r["until"])))
    assert reach.restriction("s1") is None
    reach.restrict("s1", NOW + 100)
    reach.restrict("s1", NOW + 50)  # an earlier end does not shorten it
    assert told == [("s1", NOW + 100)]
    again = ReachOut(make_store(), {}, lambda: now[0])  # another process reads the store
    assert again.restriction("s1")["until"] == NOW + 100
    assert again.hold("s1", {})["reason"] == TIMELOCK
    now[0] = NOW + 100
    assert reach.restriction("s1") is None and reach.hold("s1", {}) is None
    refusal = from_page_error("send_error_unknown", "refused")
    assert reach.until_of(refusal) == now[0] + 600  # WhatsApp named no end
    refusal.details["timelockEnds"] = now[0] + 30
    assert reach.until_of(refusal) == now[0] + 30
    reach.forget("s1")
    assert store.execute("SELECT * FROM restrictions") == []


@BOTH
def test_the_budget_counts_cold_sends_sent_in_the_store(make_store):
    store = make_store()
    for i, (cold, status) in enumerate(((1, "sent"), (1, "sent"), (0, "sent"), (1, "failed"))):
        store.execute("INSERT INTO outgoing (id, session, seq, op, args, created_at, status,"
                      " sent_at, cold) VALUES (?, 's1', ?, 'sendText', '{}', 'now', ?, ?, ?)",
                      (f"out_{i}", i + 1, status, NOW - 10 * (i + 1), cold))
    reach = ReachOut(store, {}, lambda: NOW)
    assert reach.hold("s1", {"coldPerHour": 3}) is None  # the reply and the failure not counted
    hold = reach.hold("s1", {"coldPerHour": 2})
    assert hold == {"reason": BUDGET, "until": NOW - 20 + 3600}
    row = {"status": "queued", "cold": 1}
    assert ReachOut.held(row, hold) == hold
    assert ReachOut.held({**row, "cold": 0}, hold) is None
    assert ReachOut.held(row, None) is None


def test_lookups_are_cached_and_refused_past_the_rate():
    now = [NOW]
    lookups = Lookups({"EXISTS_PER_MINUTE": 2, "EXISTS_CACHE_TTL": 60}, lambda: now[0])
    assert lookups.cached("s1", "1@c.us") == (False, None)
    lookups.admit("s1")
    lookups.keep("s1", "1@c.us", None)  # "not on WhatsApp" is kept too
    assert lookups.cached("s1", "1@c.us") == (True, None)
    lookups.admit("s1")
    with pytest.raises(TooManyRequests) as err:
        lookups.admit("s1")
    assert err.value.headers["Retry-After"] == "61"
    lookups.admit("s2")  # per session
    now[0] += 61
    assert lookups.cached("s1", "1@c.us") == (False, None)
    lookups.admit("s1")


@BOTH
def test_the_sender_holds_cold_sends_on_a_463_sends_replies_then_the_held_ones(make_app, factory):
    app = make_app(SEND_MIN_INTERVAL=0, SEND_JITTER=0)
    engine = engine_of(app)
    friend, stranger = "62821000@c.us", "62829999@c.us"
    # The timelock ends when the test says so: the gateway's reach-out clock is moved past it
    # (no real window that a loaded box could close before the held send is looked at).
    shift = [0.0]
    engine.reach.clock = lambda: clock.time() + shift[0]
    ends = clock.time() + 3600
    sent, refused = [], []

    def send(to, text, messageId=None, **_):
        if to == stranger and engine.reach.clock() < ends:
            refused.append(text)
            error = from_page_error("send_error_unknown", "WhatsApp did not take the message")
            error.details.update(nack=463, timelockEnds=ends)
            raise error
        sent.append(text)
        return {"id": messageId, "chatId": to, "fromMe": True, "to": to, "type": "chat",
                "body": text, "timestamp": 1, "ack": 1}

    connected(app.test_client(), factory, handlers={
        "sendText": send, "chatKnown": lambda to: {"known": to == friend}})
    session = engine.manager.get("s1")
    rows = [engine.outgoing.submit(session, "sendText", {"to": to, "text": text}, None)
            for to, text in ((stranger, "cold 1"), (friend, "reply"), (stranger, "cold 2"))]
    engine.senders.ensure(session)
    wait_for(lambda: sent == ["reply"], timeout=10, message="the reply, during the timelock")
    assert refused == ["cold 1"]  # the second cold send was held, never tried
    restriction = engine.reach.restriction("s1")
    assert restriction["until"] == ends and restriction["reason"] == TIMELOCK
    # the sender classifies the second cold send after the reply went: it shows held then
    wait_for(lambda: "held" in engine.send_status("s1", rows[2]["id"]), timeout=10,
             message="the second cold send held")
    assert engine.send_status("s1", rows[2]["id"])["held"] == {"reason": TIMELOCK, "until": ends}
    assert sent == ["reply"] and refused == ["cold 1"]
    shift[0] = 3601
    engine.outgoing._notify()  # a change: the sender looks at its queue again
    wait_for(lambda: sent == ["reply", "cold 1", "cold 2"], timeout=15,
             message="the held sends, once the timelock ended")
    assert all(engine.outgoing.get("s1", r["id"])["status"] == "sent" for r in rows)
