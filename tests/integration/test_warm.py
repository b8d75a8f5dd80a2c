"""The warm pool: a new session takes a browser launched ahead; nothing of it is left behind."""

from __future__ import annotations

from waengine.ops.memory import browsers_memory

from ..conftest import phones, wait_for
from .conftest import browser_processes

number = phones(__name__)

ALICE, BUDI = number(1), number(2)


def test_a_new_session_takes_a_warm_browser_and_purge_leaves_nothing(make_gateway, sandbox,
                                                                      tmp_path):
    gateway = make_gateway(WARM_BROWSERS=1)
    pool = gateway.engine.manager.factory.warm
    wait_for(lambda: pool.ready == 1, timeout=60, message="a warm browser")
    warm_pid = pool._ready[0][0].pid
    profiles = gateway.engine.profiles

    sandbox.phone(BUDI, "Budi")
    gateway.link(sandbox, "hangat", ALICE)
    session = gateway.engine.manager.get("hangat")
    assert session.browser.pid == warm_pid  # the very browser launched ahead
    assert (profiles / "hangat").is_symlink()
    assert (profiles / "hangat").resolve() == session.browser.profile.resolve()
    # The session's browser is found, measured and reaped under the session's own name.
    assert "hangat" in browsers_memory(profiles)
    assert browsers_memory(profiles, only="hangat")["hangat"]["processes"] > 0
    sent = gateway.client.post("/sessions/hangat/messages", json={"to": BUDI, "text": "cepat"})
    assert sent.status_code == 201
    wait_for(lambda: pool.ready == 1, timeout=60, message="the pool refilled")

    # A session with a profile (a login) is never given a warm browser: it relaunches its own.
    assert gateway.client.delete("/sessions/hangat").status_code == 200
    gateway.wait_status("hangat", "STOPPED")
    assert not browser_processes(profiles / "hangat")
    assert gateway.client.post("/sessions/hangat/start").status_code == 202
    gateway.wait_status("hangat", "CONNECTED")
    assert pool.ready == 1 and session.browser.pid != warm_pid

    target = (profiles / "hangat").resolve()
    assert gateway.client.delete("/sessions/hangat?purge=true").status_code == 200
    assert not (profiles / "hangat").exists() and not target.exists()
    assert not browser_processes(target) and not browser_processes(profiles / "hangat")
