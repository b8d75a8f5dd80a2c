"""The memory watchdog's decisions, on fake memory samples and a fake browser."""

import threading

import psutil

from waengine import engine_of
from waengine.ops import memory, metrics, watchdog
from waengine.ops.watchdog import MemorySample, MemoryWatchdog

from ..conftest import wait_for
from .fakes import connect, status_of

# the engine's own watchdog passes once, then sleeps; the memory ladder only where a test sets it
QUIET = {"WATCHDOG_INTERVAL": 3600.0, "SESSION_MEMORY_BUDGET_MB": 0.0}
LADDER = {**QUIET, "SESSION_MEMORY_BUDGET_MB": 400.0}


def counter(metric, *labels) -> float:
    return metric.labels(*labels)._value.get()


def sample(worker=100.0, available=20000.0, **browsers) -> MemorySample:
    return MemorySample(at=0.0, worker={"rssMb": worker, "ussMb": worker * 0.8},
                        browsers={sid: {"rssMb": pss * 3, "pssMb": pss, "ussMb": pss * 0.8,
                                        "processes": 7} for sid, pss in browsers.items()},
                        available_mb=available)


def watchdog_for(app, measured: list) -> MemoryWatchdog:
    """A watchdog of this app whose measurements are the given samples, last one repeating."""
    engine = engine_of(app)
    wait_for(lambda: engine.watchdog.last_run is not None, message="the engine's first pass")
    dog = MemoryWatchdog(engine, measure=lambda _e: measured[0] if len(measured) == 1
                         else measured.pop(0))
    engine.manager.memory_guard = dog.admission_refusal
    return dog


def connected(client, factory, *sids):
    factory.on_open = connect
    for sid in sids:
        assert client.post("/sessions", json={"id": sid}).status_code == 201
    for sid in sids:
        wait_for(lambda sid=sid: status_of(client, sid) == "CONNECTED")


def test_a_worker_over_its_limit_collects_garbage_and_trims_caches(make_app):
    app = make_app(WORKER_MEMORY_LIMIT_MB=200.0, **QUIET)
    dog = watchdog_for(app, [sample(worker=500.0)])
    trimmed = []
    dog.trimmers.append(lambda: trimmed.append(True))
    before = counter(metrics.WATCHDOG_ACTIONS, "gc")
    assert dog.run_once() == ["gc"]
    assert trimmed == [True]
    assert counter(metrics.WATCHDOG_ACTIONS, "gc") == before + 1


def test_a_worker_under_its_limit_is_left_alone_but_its_freed_heap_goes_back(
        make_app, monkeypatch):
    app = make_app(WORKER_MEMORY_LIMIT_MB=200.0, **QUIET)
    dog = watchdog_for(app, [sample(worker=150.0)])
    dog.trimmers.append(lambda: (_ for _ in ()).throw(AssertionError("trimmed")))
    heap_trims = []
    monkeypatch.setattr(watchdog, "malloc_trim", lambda: heap_trims.append(True))
    assert dog.run_once() == [] and dog.run_once() == []
    assert dog.last_sample.worker["rssMb"] == 150.0
    assert heap_trims == [True, True]  # every pass: no action, nothing collected


def test_the_worker_keeps_its_threads_on_two_malloc_arenas_unless_told_otherwise(monkeypatch):
    calls = []

    class Libc:
        def mallopt(self, param, value):
            calls.append((param, value))
            return 1

    monkeypatch.setattr(memory, "libc", lambda: Libc())
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert memory.limit_malloc_arenas() is True
    assert calls == [(memory.M_ARENA_MAX, 2)]
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")  # the operator's glibc setting wins
    assert memory.limit_malloc_arenas() is False and len(calls) == 1
    monkeypatch.setattr(memory, "libc", lambda: None)  # musl, or no C library found
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert memory.limit_malloc_arenas() is False


def test_the_engine_limits_the_arenas_when_it_starts(make_app, monkeypatch):
    limited = []
    monkeypatch.setattr(memory, "limit_malloc_arenas", lambda: limited.append(True))
    make_app(**QUIET)
    assert limited == [True]


def test_a_browser_over_its_limit_is_recycled_from_its_profile_once_per_cooldown(
        make_app, factory):
    app = make_app(BROWSER_MEMORY_LIMIT_MB=500.0, **QUIET)
    client = app.test_client()
    connected(client, factory, "s1")
    dog = watchdog_for(app, [sample(s1=900.0)])
    before = counter(metrics.BROWSER_RESTARTS, "memory_limit")
    assert dog.run_once() == ["recycle"]
    wait_for(lambda: len(factory.opened) == 2, message="relaunch")
    wait_for(lambda: status_of(client) == "CONNECTED")
    assert counter(metrics.BROWSER_RESTARTS, "memory_limit") == before + 1
    assert client.get("/sessions/s1").json["restarts"] == 1
    assert factory.opened[0][1].quits == 1
    # Still fat right after: the cooldown stops a relaunch loop.
    assert dog.run_once() == []


def test_over_the_total_limit_the_fattest_browser_is_recycled(make_app, factory):
    app = make_app(TOTAL_MEMORY_LIMIT_MB=800.0, **QUIET)
    client = app.test_client()
    # Admission asks the fake watchdog (no sample yet: it admits), not the engine's, which
    # measured this test process: late in a long run its RSS alone is over 800 MB.
    dog = watchdog_for(app, [sample(thin=300.0, fat=600.0)])
    connected(client, factory, "thin", "fat")
    assert dog.run_once() == ["recycle"]
    wait_for(lambda: len(factory.opened) == 3, message="the fat one relaunched")
    assert [sid for sid, _b, _br in factory.opened] == ["thin", "fat", "fat"]


def test_new_sessions_are_refused_503_when_memory_would_run_out(make_app, factory):
    app = make_app(TOTAL_MEMORY_LIMIT_MB=1000.0, **QUIET)
    client = app.test_client()
    connected(client, factory, "s1")
    dog = watchdog_for(app, [sample(worker=100.0, s1=400.0)])
    dog.run_once()
    # 500 MB in use + ~400 MB for one more (the average browser) fits under 1000 MB...
    assert client.post("/sessions", json={"id": "s2"}).status_code == 201
    # ...but s2 is not in the sample yet: it counts at the estimate, so a third would not fit.
    before = counter(metrics.SESSIONS_REFUSED, "memory")
    resp = client.post("/sessions", json={"id": "s3"})
    assert resp.status_code == 503 and resp.json["error"]["code"] == "capacity_exceeded"
    assert "memory" in resp.json["error"]["message"]
    assert counter(metrics.SESSIONS_REFUSED, "memory") == before + 1


def test_new_sessions_are_refused_when_the_machine_would_keep_too_little_free(make_app):
    app = make_app(TOTAL_MEMORY_LIMIT_MB=100000.0, MEMORY_RESERVE_MB=512.0,
                   BROWSER_MEMORY_ESTIMATE_MB=250.0, **QUIET)
    dog = watchdog_for(app, [sample(available=700.0)])
    dog.run_once()
    resp = app.test_client().post("/sessions", json={"id": "s1"})
    assert resp.status_code == 503 and "available" in resp.json["error"]["message"]


def test_max_sessions_is_refused_503_and_counted(make_app, factory):
    app = make_app(MAX_SESSIONS=1, **QUIET)
    client = app.test_client()
    connected(client, factory, "s1")
    before = counter(metrics.SESSIONS_REFUSED, "max_sessions")
    resp = client.post("/sessions", json={"id": "s2"})
    assert resp.status_code == 503 and resp.json["error"]["code"] == "capacity_exceeded"
    assert counter(metrics.SESSIONS_REFUSED, "max_sessions") == before + 1


def test_a_browser_call_that_never_returns_gets_its_browser_killed_and_recovers(
        make_app, factory):
    app = make_app(COMMAND_TIMEOUT=0.2, STUCK_TIMEOUT=0.5, **QUIET)
    client = app.test_client()
    connected(client, factory, "s1")
    session = engine_of(app).manager.get("s1")
    dog = watchdog_for(app, [sample()])
    factory.bridge().frozen = True  # the next poll blocks, as on a SIGSTOPped renderer
    wait_for(lambda: session.busy_for() > 1.3, message="a call outliving COMMAND_TIMEOUT + 1")
    # Callers are told at once rather than queued behind the stuck call.
    resp = client.post("/sessions/s1/messages", json={"to": "628111", "text": "x"})
    assert resp.status_code == 503 and resp.json["error"]["code"] == "browser_unavailable"
    assert resp.headers["Retry-After"]
    assert dog.run_once() == ["unstick"]
    assert factory.opened[0][1].kills == 1
    wait_for(lambda: len(factory.opened) == 2 and status_of(client) == "CONNECTED")
    assert client.get("/sessions/s1").json["restarts"] == 1


def test_when_killing_the_browser_does_not_end_the_call_chromedriver_is_restarted(
        make_app, factory):
    app = make_app(COMMAND_TIMEOUT=0.2, STUCK_TIMEOUT=0.5, **QUIET)
    engine = engine_of(app)
    connected(app.test_client(), factory, "s1")
    session = engine.manager.get("s1")
    dog = watchdog_for(app, [sample()])

    class Driver:
        pid, stops = 4242, 0

        def stop(self):
            self.stops += 1

    real_service, engine.service = engine.service, Driver()
    bridge = factory.bridge()
    factory.opened[0][1].bridge = None  # its kill no longer reaches the blocked call
    bridge.frozen = True
    try:
        wait_for(lambda: session.busy_for() > 0.5)
        assert dog.run_once() == ["unstick"]
        assert dog.run_once() == ["restart_chromedriver"]
        assert engine.service.stops == 1
    finally:
        engine.service = real_service
        bridge.dead = True
        bridge.thaw.set()


def test_threads_are_named_daemons_started_once_and_stopped_with_the_engine(make_app):
    app = make_app()
    engine = engine_of(app)
    engine.start()  # a second start (e.g. a second hook) starts nothing more
    names = [t.name for t in threading.enumerate() if t.name in ("wa-watchdog", "wa-reaper")]
    assert sorted(names) == ["wa-reaper", "wa-watchdog"]
    assert all(t.daemon for t in threading.enumerate() if t.name in names)
    engine.stop()
    assert not engine.watchdog.alive and not engine.reaper.alive


def test_browsers_not_sampled_yet_share_one_walk_of_the_process_table(make_app, monkeypatch):
    app = make_app(**QUIET)
    clock = [100.0]
    dog = MemoryWatchdog(engine_of(app), measure=lambda _e: sample(), clock=lambda: clock[0])
    walks = []

    def walk(profiles, only=None):
        walks.append(only)
        return {"s1": {"rssMb": 3.0, "pssMb": 1.0, "ussMb": 0.8, "processes": 6}}

    monkeypatch.setattr("waengine.ops.memory.browsers_memory", walk)
    got = [dog.browser_memory(f"s{i}") for i in range(100)]  # GET /sessions, 100 sessions
    assert walks == [None]
    assert got[1]["pssMb"] == 1.0 and got[2] is None
    clock[0] += 5.0  # later on, a new walk: a browser started since is seen
    dog.browser_memory("s1")
    assert len(walks) == 2


class _Proc:
    """A process as psutil shows it: RSS from statm, PSS and USS from smaps_rollup (counted)."""

    def __init__(self, pid, rss_mb, pss_mb, born=1.0):
        self.pid, self.born = pid, born
        self.rss, self.pss = int(rss_mb * 2**20), int(pss_mb * 2**20)
        self.full_reads = 0
        self.gone = False

    def create_time(self):
        return self.born

    def memory_info(self):
        if self.gone:
            raise psutil.NoSuchProcess(self.pid)
        return type("M", (), {"rss": self.rss})()

    def memory_full_info(self):
        if self.gone:
            raise psutil.NoSuchProcess(self.pid)
        self.full_reads += 1
        return type("M", (), {"rss": self.rss, "pss": self.pss, "uss": self.pss // 2})()


def test_the_watchdog_reads_each_browser_processs_pss_every_fourth_pass_or_when_it_grows():
    procs = [_Proc(100 + i, rss_mb=70, pss_mb=10) for i in range(8)]
    meter = memory.PssMeter(passes=4, moved_mb=8)
    first = meter.read(procs)
    assert meter.measured == 8 and first[100] == (70 * 2**20, 10 * 2**20, 5 * 2**20)
    # Quiet passes: a quarter of the processes each, the longest unmeasured first, so every
    # one is read again within four passes; the others keep their last PSS.
    for _ in range(4):
        assert meter.read(procs)[101][1] == 10 * 2**20
        assert meter.measured == 2
    assert all(p.full_reads == 2 for p in procs)
    # A process that grows past moved_mb is read at once; a small move shifts the estimate.
    procs[3].rss += 20 * 2**20
    procs[3].pss += 18 * 2**20
    procs[5].rss += 2**20
    before = procs[5].full_reads
    got = meter.read(procs)
    assert got[103][1] == 28 * 2**20 and meter.measured == 3
    assert procs[5].full_reads == before and got[105] == (71 * 2**20, 11 * 2**20, 6 * 2**20)
    # A process gone is dropped; its pid reused by a new process is measured afresh.
    procs[0].gone = True
    got = meter.read(procs)
    assert 100 not in got
    procs[0] = _Proc(100, rss_mb=30, pss_mb=4, born=2.0)
    assert meter.read(procs)[100][1] == 4 * 2**20 and procs[0].full_reads == 1


def test_the_watchdog_measures_browsers_through_its_meter(make_app, monkeypatch):
    app = make_app(**QUIET)
    dog = MemoryWatchdog(engine_of(app))
    seen = []
    monkeypatch.setattr("waengine.ops.memory.browsers_memory",
                        lambda profiles, only=None, meter=None: seen.append(meter) or {})
    dog.run_once()
    dog.run_once()
    assert [m for m in seen if m is dog.meter] == [dog.meter, dog.meter]  # (the engine's
    # own watchdog may pass too, with its own meter)


def test_a_session_over_its_budget_climbs_the_ladder_one_step_a_pass(make_app, factory):
    app = make_app(**LADDER)
    client = app.test_client()
    connected(client, factory, "s1")
    bridge = factory.bridge()
    # over budget on every pass: trim, trim harder, reload (quiet); the new page trimmed,
    # then restart; the new browser trimmed, then nothing more
    dog = watchdog_for(app, [sample(s1=600.0)])
    dog.ladder.quiet = 0.0
    steps = counter(metrics.MEMORY_LADDER_STEPS, "reload")
    assert dog.run_once() == ["ladder_trim_moderate"] and bridge.trims == ["moderate"]
    assert dog.run_once() == ["ladder_trim_critical"] and bridge.trims[-1] == "critical"
    assert dog.run_once() == ["ladder_reload"] and bridge.reloads == 1
    assert counter(metrics.MEMORY_LADDER_STEPS, "reload") == steps + 1
    assert dog.run_once() == ["ladder_trim_moderate"]
    assert dog.run_once() == ["ladder_trim_critical"]
    assert dog.ladder.usage("s1", 600.0)["ladder"]["nextStep"] == "restart"
    assert dog.run_once() == ["recycle", "ladder_restart"] and bridge.reloads == 1
    wait_for(lambda: len(factory.opened) == 2, message="the browser restarted")
    wait_for(lambda: status_of(client) == "CONNECTED")
    assert dog.run_once() == ["ladder_trim_moderate"]
    assert dog.run_once() == ["ladder_trim_critical"]
    # every step taken: nothing more until the session is under its budget again
    assert dog.run_once() == [] and factory.bridge().reloads == 0
    shown = client.get("/performance").json["sessions"][0]["memoryBudget"]
    assert shown["budgetMb"] == 400.0  # the engine's own watchdog; this one's ladder:
    perf = dog.ladder.usage("s1", 600.0)
    assert perf["budgetMb"] == 400.0 and perf["usePercent"] == 150.0
    assert perf["ladder"]["taken"] == {"trim_moderate": 3, "trim_critical": 3, "reload": 1,
                                       "restart": 1}
    assert perf["ladder"]["nextStep"] is None
    assert perf["ladder"]["last"]["step"] == "trim_critical"  # measured on the pass after it


def test_a_trim_that_brings_the_session_under_budget_ends_the_climb(make_app, factory):
    app = make_app(**LADDER)
    client = app.test_client()
    connected(client, factory, "s1")
    dog = watchdog_for(app, [sample(s1=450.0), sample(s1=350.0), sample(s1=420.0)])
    assert dog.run_once() == ["ladder_trim_moderate"]
    assert dog.run_once() == []  # under 90 % of the budget: the gain is kept, the climb ends
    last = dog.ladder.usage("s1", 350.0)["ladder"]["last"]
    assert last == {"step": "trim_moderate", "beforeMb": 450.0, "afterMb": 350.0,
                    "gaveBackMb": 100.0}
    assert dog.run_once() == ["ladder_trim_moderate"]  # over again: from the first step


def test_a_session_hovering_at_its_budget_goes_on_to_the_reload(make_app, factory):
    app = make_app(**LADDER)  # a budget of 400 MB
    client = app.test_client()
    connected(client, factory, "s1")
    bridge = factory.bridge()
    # each trim gives back a few MB, just under the budget, and the page grows over it again
    hover = [sample(s1=mb) for mb in (404.0, 398.0, 403.0, 397.0, 402.0)]
    dog = watchdog_for(app, hover)
    dog.ladder.quiet = 0.0
    assert [dog.run_once() for _ in range(5)] == [
        ["ladder_trim_moderate"], [], ["ladder_trim_critical"], [], ["ladder_reload"]]
    assert bridge.trims == ["moderate", "critical"] and bridge.reloads == 1


def test_a_reload_that_brings_the_session_under_budget_ends_the_climb(make_app, factory):
    app = make_app(**LADDER)
    client = app.test_client()
    connected(client, factory, "s1")
    bridge = factory.bridge()
    over, under = sample(s1=600.0), sample(s1=340.0)
    dog = watchdog_for(app, [over, over, over, over, under, over, over, over])
    dog.ladder.quiet = 0.0
    assert [dog.run_once() for _ in range(4)] == [
        ["ladder_trim_moderate"], ["ladder_trim_critical"], ["ladder_reload"],
        ["ladder_trim_moderate"]]  # the new page's load, trimmed
    assert dog.run_once() == []  # under budget: the climb ends
    # over again later: a new climb, whose reload may be taken again
    assert [dog.run_once() for _ in range(3)] == [
        ["ladder_trim_moderate"], ["ladder_trim_critical"], ["ladder_reload"]]
    assert bridge.reloads == 2 and len(factory.opened) == 1


def test_the_reload_waits_for_a_quiet_moment_and_a_drained_queue(make_app, factory):
    app = make_app(**LADDER)
    client = app.test_client()
    connected(client, factory, "s1")
    bridge = factory.bridge()
    dog = watchdog_for(app, [sample(s1=600.0)])
    dog.ladder.quiet = 0.0
    dog.run_once()
    dog.run_once()
    with bridge.lock:  # an event the gateway has not taken yet: no reload
        bridge.events.append({"id": "e1", "type": "message", "data": {
            "id": "false_62822@c.us_AAAA", "chatId": "62822@c.us", "from": "62822@c.us",
            "fromMe": False, "type": "chat", "body": "halo", "sender": {"id": "62822@c.us"}}})
    assert dog.run_once() == [] and bridge.reloads == 0
    wait_for(lambda: not bridge.events, message="the worker took the event")
    assert dog.run_once() == ["ladder_reload"] and bridge.reloads == 1


def test_a_session_never_quiet_is_reloaded_between_commands(make_app, factory, monkeypatch):
    from waengine.ops import memory_ladder

    monkeypatch.setattr(memory_ladder, "QUIET_WAIT", 2)
    app = make_app(**LADDER)
    client = app.test_client()
    connected(client, factory, "s1")
    bridge = factory.bridge()
    dog = watchdog_for(app, [sample(s1=600.0)])
    dog.ladder.quiet = 3600.0  # a client's command within the last hour: never quiet
    dog.run_once()
    dog.run_once()
    assert dog.run_once() == [] and bridge.reloads == 0  # waiting for a quiet moment
    assert dog.run_once() == [] and bridge.reloads == 0
    # no command running at this pass: the reload is taken between two commands
    assert dog.run_once() == ["ladder_reload"] and bridge.reloads == 1
    assert len(factory.opened) == 1  # the same browser
    assert dog.ladder.usage("s1", 600.0)["ladder"]["taken"]["restart"] == 0


def test_a_page_whose_events_never_drain_is_restarted_instead(make_app, factory, monkeypatch):
    from waengine.ops import memory_ladder

    monkeypatch.setattr(memory_ladder, "QUIET_WAIT", 1)
    monkeypatch.setattr(memory_ladder, "RELOAD_WAIT", 3)
    app = make_app(**LADDER)
    client = app.test_client()
    connected(client, factory, "s1")
    bridge = factory.bridge()
    bridge.reload_if_drained = lambda: False  # an event always waiting for the gateway
    dog = watchdog_for(app, [sample(s1=600.0)])
    dog.ladder.quiet = 0.0
    dog.run_once()
    dog.run_once()
    assert dog.run_once() == [] and dog.run_once() == []
    assert dog.run_once() == ["recycle", "ladder_restart"] and bridge.reloads == 0
    wait_for(lambda: len(factory.opened) == 2, message="the browser restarted")
