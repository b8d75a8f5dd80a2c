"""The dead-socket ladder (engine/ladder.py): when a session is DEGRADED, which step comes next,
and what ends it."""

from __future__ import annotations

import pytest

from waengine.engine.ladder import Ladder

CONFIG = {"DEGRADED_ACK_TIMEOUT": 10.0, "DEGRADED_SEND_FAILURES": 2,
          "DEGRADED_OFFLINE_AFTER": 30.0, "DEGRADED_STEP_AFTER": 60.0}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ladder(clock):
    return Ladder(CONFIG, clock=clock, wall=lambda: 1.7e9)


STALLED = {"stalledMs": 11000}
QUIET = {"stalledMs": 0}


def test_a_send_stuck_at_pending_past_the_threshold_degrades_and_orders_a_reload(ladder):
    assert ladder.observe({"stalledMs": 9000}, False) is None
    assert ladder.observe(STALLED, False) == "degraded"
    assert ladder.view() == {"reason": "acks_pending", "step": "reload", "since": 1.7e9}


def test_each_step_needs_the_signs_again_and_its_wait(ladder, clock):
    ladder.observe(STALLED, False)
    clock.now += 61
    assert ladder.observe(QUIET, False) is None  # no new sign since the reload: nothing to do
    assert ladder.observe(STALLED, False) == "relaunch"
    clock.now += 30
    assert ladder.observe(STALLED, False) is None  # too soon after the relaunch
    clock.now += 31
    assert ladder.observe(STALLED, False) == "alert"
    clock.now += 600
    assert ladder.observe(STALLED, False) is None  # the top of the ladder: it stays DEGRADED
    assert ladder.view()["step"] == "alert"


def test_traffic_ends_it_and_a_later_stall_starts_from_the_first_step(ladder, clock):
    ladder.observe(STALLED, False)
    clock.now += 61
    ladder.observe(STALLED, False)
    ladder.flowed()
    assert ladder.observe(QUIET, False) == "recovered"
    assert ladder.view() is None and not ladder.active
    assert ladder.observe(STALLED, False) == "degraded"
    assert ladder.view()["step"] == "reload"


def test_sends_in_a_row_that_time_out_or_are_refused_degrade_a_success_between_resets(ladder):
    ladder.send_timed_out()
    ladder.flowed()
    ladder.send_timed_out()
    assert ladder.observe(QUIET, False) is None
    ladder.send_timed_out()
    assert ladder.observe(QUIET, False) == "degraded"
    assert ladder.view()["reason"] == "sends_timed_out"
    other = Ladder(CONFIG)
    other.send_refused()
    other.send_refused()
    assert other.observe(QUIET, False) == "degraded"
    assert other.view()["reason"] == "sends_refused"


def test_a_socket_the_page_reports_down_too_long_degrades_and_ends_when_it_is_back(ladder, clock):
    assert ladder.observe(QUIET, True) is None
    clock.now += 29
    assert ladder.observe(QUIET, True) is None
    clock.now += 1
    assert ladder.observe(QUIET, True) == "degraded"
    assert ladder.view()["reason"] == "socket_down"
    assert ladder.observe(QUIET, False) == "recovered"


def test_a_reset_forgets_the_state_and_the_signs(ladder):
    ladder.send_timed_out()
    ladder.observe(STALLED, False)
    ladder.reset()
    assert not ladder.active and ladder.view() is None
    ladder.send_timed_out()
    assert ladder.observe(QUIET, False) is None  # one timeout of two: the count started over
