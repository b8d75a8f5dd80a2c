"""Each shared word has one definition: statuses, session ids, ISO-UTC times, browser memory."""

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from waengine import engine_of
from waengine.api import docs
from waengine.apikeys import parse_api_keys
from waengine.errors import ConfigError, ValidationError
from waengine.libc import libc
from waengine.ops.memory import browsers_memory, process_memory
from waengine.ops.watchdog import MemorySample
from waengine.store import epoch, iso_utc, utcnow
from waengine.vocabulary import SESSION_ID, STATUSES, Status, check_session_id

from ..conftest import wait_for
from .fakes import connect

WAENGINE = Path(__file__).resolve().parents[2] / "waengine"


def test_no_module_spells_out_a_status_or_the_session_id_pattern_again():
    spelled = re.compile(r"""["'](STARTING|SCAN_QR|CONNECTED|RECOVERING|STOPPED|FAILED)["']"""
                         r"|A-Za-z0-9_-\]\{1,64\}|CDLL\(|fromtimestamp\(|memory_full_info\(")
    where = {"vocabulary.py", "store.py", "memory.py", "libc.py"}  # the definitions themselves
    found = [f"{p.relative_to(WAENGINE)}:{n}" for p in WAENGINE.rglob("*.py")
             if p.name not in where and "sandbox" not in p.parts
             for n, line in enumerate(p.read_text().splitlines(), 1)
             if spelled.search(line) and '"example"' not in line]
    assert found == []


def test_status_names_are_what_the_document_and_the_metrics_list():
    assert STATUSES == ("STARTING", "SCAN_QR", "CONNECTED", "CONFLICT", "RECOVERING", "STOPPED",
                        "FAILED")
    assert set(docs.Session().fields["status"].validate.choices) == set(STATUSES)
    assert Status("SCAN_QR") is Status.SCAN_QR and Status.SCAN_QR == "SCAN_QR"


def test_a_session_id_and_a_key_scope_accept_the_same_ids():
    for good in ("a", "sales-1_B", "x" * 64):
        assert SESSION_ID.fullmatch(good) and check_session_id(good) == good
        assert parse_api_keys(f"k:{good}")[0].scope == (good,)
    for bad in ("", "x" * 65, "../etc", "a b", "é"):
        assert not SESSION_ID.fullmatch(bad)
        with pytest.raises(ValidationError):
            check_session_id(bad)
        with pytest.raises(ConfigError):
            parse_api_keys(f"k:{bad}")
    assert parse_api_keys("k:acme-*")[0].allows("acme-7")


def test_iso_utc_writes_every_time_one_way_and_epoch_reads_it_back():
    assert iso_utc(0.0 + 86400) == "1970-01-02T00:00:00Z"
    assert iso_utc(1.5, "milliseconds") == "1970-01-01T00:00:01.500Z"
    assert epoch(iso_utc(1_700_000_000)) == 1_700_000_000
    assert abs(epoch(utcnow()) - time.time()) < 5 and utcnow().endswith("Z")


def test_memory_of_this_process_and_of_no_browser():
    mine = process_memory(__import__("os").getpid())
    assert mine["rssMb"] > 0 and mine["ussMb"] <= mine["rssMb"]
    assert process_memory(None) is None
    assert browsers_memory(Path("/nonexistent/profiles")) == {}


def test_browsers_memory_finds_a_process_by_its_profile_folder(tmp_path):
    profiles = tmp_path / "profiles"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)",
                              f"--user-data-dir={profiles}/p1"])
    try:
        found = wait_for(lambda: browsers_memory(profiles).get("p1"))
        assert found["processes"] == 1 and found["pssMb"] > 0
        assert browsers_memory(profiles, only="p2") == {}
    finally:
        child.kill()
        child.wait()


def test_libc_loads_once():
    assert libc() is libc()


def test_sessions_and_performance_show_the_same_browser_memory(make_app, factory):
    app = make_app()
    client = app.test_client()
    factory.on_open = connect
    client.post("/sessions", json={"id": "s1"})
    wait_for(lambda: client.get("/sessions/s1").json["status"] == "CONNECTED")
    watchdog = engine_of(app).watchdog
    wait_for(lambda: watchdog.last_run is not None)
    watchdog.last_sample = MemorySample(
        at=time.monotonic(), worker={"rssMb": 90.0, "pssMb": 80.0, "ussMb": 70.0},
        browsers={"s1": {"rssMb": 612.3, "pssMb": 201.4, "ussMb": 150.0, "processes": 6}})
    performance = client.get("/performance").json["sessions"][0]
    assert client.get("/sessions/s1").json["browser"]["rssMb"] == performance["browserRssMb"]
    assert client.get("/sessions").json["data"][0]["browser"]["rssMb"] == 612.3
