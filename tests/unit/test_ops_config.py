"""Operations settings: in every environment, bad ones fail in one line, gunicorn reads them."""

import runpy

import pytest

from waengine.config import PROJECT_ROOT, ConfigError, load_config

OPS_KEYS = ("THREADS", "WATCHDOG_INTERVAL", "WORKER_MEMORY_LIMIT_MB", "BROWSER_MEMORY_LIMIT_MB",
            "TOTAL_MEMORY_LIMIT_MB", "MEMORY_RESERVE_MB", "RECYCLE_COOLDOWN", "POLL_TIMEOUT",
            "STUCK_POLLS", "STUCK_TIMEOUT", "REAPER_INTERVAL", "SESSION_IDLE_TIMEOUT",
            "QR_SCAN_TIMEOUT", "BROWSER_MEMORY_ESTIMATE_MB", "LAUNCH_CONCURRENCY",
            "RESTART_BACKOFF", "RESTART_MAX", "RESTART_WINDOW", "EVENT_RETENTION", "MAX_SESSIONS")


@pytest.mark.parametrize("env", ["development", "production", "testing"])
def test_every_environment_file_sets_every_threshold_and_ttl(env):
    values = runpy.run_path(str(PROJECT_ROOT / "config" / f"{env}.py"))
    assert [k for k in OPS_KEYS if k not in values] == []


def test_the_seeds_thresholds_per_environment():
    dev = load_config({"ENV": "development"}, environ={})
    prod = load_config({"ENV": "production", "API_KEYS": ["k" * 24]}, environ={})
    assert (dev["WORKER_MEMORY_LIMIT_MB"], prod["WORKER_MEMORY_LIMIT_MB"]) == (300, 800)
    assert (dev["SESSION_IDLE_TIMEOUT"], prod["SESSION_IDLE_TIMEOUT"]) == (3600, 86400)


@pytest.mark.parametrize("overrides, message", [
    ({"WATCHDOG_INTERVAL": 0}, "WATCHDOG_INTERVAL must be positive"),
    ({"STUCK_POLLS": 0}, "STUCK_POLLS must be at least 1"),
    ({"COMMAND_TIMEOUT": 60.0, "STUCK_TIMEOUT": 30.0}, "STUCK_TIMEOUT (30.0) must be longer"),
])
def test_unworkable_operations_settings_fail_in_one_line(overrides, message):
    with pytest.raises(ConfigError) as caught:
        load_config({"ENV": "testing", **overrides}, environ={})
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_gunicorn_runs_one_gthread_worker_with_threads_and_bind_from_config(monkeypatch):
    monkeypatch.setenv("WAENGINE_ENV", "testing")
    monkeypatch.setenv("WAENGINE_THREADS", "24")
    monkeypatch.setenv("WAENGINE_BIND", "0.0.0.0:9999")
    conf = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))
    assert (conf["workers"], conf["worker_class"], conf["max_requests"]) == (1, "gthread", 0)
    assert conf["threads"] == 24 and conf["bind"] == "0.0.0.0:9999"
    assert conf["graceful_timeout"] >= 30 and conf["timeout"] >= 60
    assert "%(M)s" in conf["access_log_format"]
    for hook in ("on_starting", "post_worker_init", "worker_exit"):
        assert callable(conf[hook])


def test_gunicorn_refuses_a_lost_sqlite_registry_but_not_a_cluster_node_s_profiles(
        monkeypatch, tmp_path, capsys):
    """Profiles on disk and no waengine.db: on SQLite the registry was lost (refuse, with the
    way out); with DATABASE_URL the registry is PostgreSQL's and a restarted node starts."""
    (tmp_path / "profiles" / "s1").mkdir(parents=True)
    monkeypatch.setenv("WAENGINE_ENV", "testing")
    monkeypatch.setenv("WAENGINE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("WAENGINE_DATABASE_URL", raising=False)
    conf = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))
    with pytest.raises(SystemExit) as stopped:
        conf["on_starting"](None)
    assert stopped.value.code == 2 and "--rebuild-registry" in capsys.readouterr().err
    monkeypatch.setenv("WAENGINE_DATABASE_URL", "postgresql://node@127.0.0.1:9/waengine")
    conf = runpy.run_path(str(PROJECT_ROOT / "gunicorn.conf.py"))
    conf["on_starting"](None)  # no database is opened here: the worker's engine does that
    assert not (tmp_path / "waengine.db").exists()
