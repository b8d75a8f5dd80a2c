"""Logs: request ids taken or made and echoed, JSON lines, context fields, secrets masked."""

import json
import logging

import pytest

from waengine import logs
from waengine.config import ConfigError, load_config


def record(msg, *args, name="waengine.test", thread="MainThread", **extra):
    rec = logging.LogRecord(name, logging.INFO, __file__, 1, msg, args or None, None)
    rec.threadName = thread
    rec.__dict__.update(extra)
    return rec


def json_line(rec) -> dict:
    assert logs.ContextFilter().filter(rec)
    return json.loads(logs.JsonFormatter().format(rec))


def test_a_json_line_has_every_field_and_finds_the_session_of_a_session_thread():
    line = json_line(record("polling %s", "fine", thread="wa-session-sales"))
    assert set(line) == {"ts", "level", "logger", "thread", "session", "event", "requestId",
                         "message"}
    assert line["session"] == "sales" and line["message"] == "polling fine"
    assert line["ts"].endswith("Z") and line["level"] == "INFO" and line["requestId"] is None
    assert json_line(record("session ab_1: STARTING -> SCAN_QR (None)"))["session"] == "ab_1"
    assert json_line(record("x", event="webhook.failed"))["event"] == "webhook.failed"


@pytest.mark.parametrize("text, secret", [
    ("proxy http://proxyuser:s3cr3t-pass@10.0.0.1:3128 refused", "s3cr3t-pass"),
    ("secret=hunter2hunter2 and more", "hunter2hunter2"),
    ('{"apiKey": "abcdefgh12345678"}', "abcdefgh12345678"),
    ("Authorization: Bearer tok-0123456789", "tok-0123456789"),
    ("hook secret whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"),
    ("GET /sessions/s1/ws?token=letmein-please HTTP/1.1", "letmein-please"),
])
def test_secrets_are_masked(text, secret):
    masked = logs.redact(text)
    assert secret not in masked and "***" in masked


def test_configured_keys_are_masked_wherever_they_appear():
    logs.SECRETS.add("configured-key-0123456789")
    assert logs.redact("odd: configured-key-0123456789!") == "odd: ***!"


def test_the_gunicorn_access_record_becomes_method_path_status_duration():
    atoms = {"h": "127.0.0.1", "r": "GET /sessions/s1/qr?token=abcdefgh99 HTTP/1.1", "s": "200",
             "m": "GET", "U": "/sessions/s1/qr", "M": 12, "a": "curl",
             "{x-request-id}o": "rid-1"}
    rec = record('%(h)s "%(r)s" %(s)s %(M)sms %({X-Request-ID}o)s %({nope}i)s', atoms,
                 name="gunicorn.access")
    rec.args = atoms  # logging unwraps a lone dict argument the same way
    line = json_line(rec)
    assert (line["method"], line["path"], line["status"], line["durationMs"]) == (
        "GET", "/sessions/s1/qr", 200, 12)
    assert line["requestId"] == "rid-1" and line["session"] == "s1"
    assert line["event"] == "http.request" and "abcdefgh99" not in line["message"]
    assert line["message"].endswith("12ms rid-1 -")


def test_a_request_id_is_taken_from_the_caller_or_made_and_always_answered(client):
    assert client.get("/health", headers={"X-Request-ID": "abc-123"}).headers[
        "X-Request-ID"] == "abc-123"
    made = client.get("/health").headers["X-Request-ID"]
    assert len(made) == 32 and made != client.get("/health").headers["X-Request-ID"]
    odd = client.get("/health", headers={"X-Request-ID": "has spaces\tand tabs"})
    assert odd.headers["X-Request-ID"] != "has spaces\tand tabs"
    refused = client.get("/sessions/nope", headers={"X-Request-ID": "err-1"})
    assert refused.status_code == 404 and refused.headers["X-Request-ID"] == "err-1"


def test_log_lines_of_a_request_carry_its_id(client, caplog):
    handler_filter = logs.ContextFilter()
    caplog.handler.addFilter(handler_filter)
    with caplog.at_level(logging.INFO):
        client.post("/sessions", json={"id": "s1"}, headers={"X-Request-ID": "req-77"})
    lines = [r for r in caplog.records if r.name.startswith("waengine.engine")
             and r.requestId == "req-77"]
    assert lines and all(r.session == "s1" for r in lines), [r.getMessage() for r in lines]


def test_log_format_is_text_or_json():
    assert load_config({"ENV": "testing", "LOG_FORMAT": "json"})["LOG_FORMAT"] == "json"
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        load_config({"ENV": "testing", "LOG_FORMAT": "xml"})


class _Response:
    status = "201 CREATED"
    sent = 657
    headers = [("Content-Type", "application/json"), ("X-Request-ID", "rid-9"), ("ETag", '"e"')]


class _Request:
    headers = [("HOST", "gw:8080"), ("USER-AGENT", 'curl "8"'), ("X-API-KEY", "k" * 32)]


ENVIRON = {"REMOTE_ADDR": "10.0.0.7", "REQUEST_METHOD": "POST", "RAW_URI": "/sessions?x=1",
           "PATH_INFO": "/sessions", "QUERY_STRING": "x=1", "SERVER_PROTOCOL": "HTTP/1.1",
           "HTTP_USER_AGENT": 'curl "8"', "HTTP_REFERER": "http://ui/", "wsgi.url_scheme": "http"}


@pytest.mark.parametrize("fmt", [
    None,  # the project's own, from gunicorn.conf.py
    '%(h)s %(l)s %(u)s "%(r)s" %(s)s %(m)s %(U)s %(q)s %(H)s %(b)s %(B)s %(f)s "%(a)s" %(T)s '
    '%(D)s %(M)s %(L)s %(p)s %({X-Request-ID}o)s %({user-agent}i)s %({nope}i)s '
    '%({remote_addr}e)s %(zz)s',
])
def test_the_lean_access_atoms_print_what_gunicorns_own_print(fmt):
    """AccessLogger builds only the atoms a line uses; the line and the JSON fields' atoms
    must come out as gunicorn's full atoms make them."""
    import datetime
    import importlib.util
    from pathlib import Path
    from types import SimpleNamespace

    from gunicorn import glogging

    if fmt is None:
        conf = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"
        spec = importlib.util.spec_from_file_location("gunicorn_conf", conf)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        fmt = module.access_log_format
        assert module.logger_class == "waengine.logs.AccessLogger"
    took = datetime.timedelta(seconds=1, microseconds=234567)
    ours = logs.AccessLogger.__new__(logs.AccessLogger)
    ours.cfg = SimpleNamespace(access_log_format=fmt)
    theirs = glogging.Logger.__new__(glogging.Logger)
    lean = glogging.SafeAtoms(ours.atoms(_Response, _Request, ENVIRON, took))
    full = glogging.SafeAtoms(theirs.atoms(_Response, _Request, ENVIRON, took))
    assert fmt % lean == fmt % full
    for key in ("m", "U", "s", "M", "{x-request-id}o"):
        assert lean[key] == full[key]
    assert set(lean) <= set(logs._access_atoms(fmt)) and set(lean) < set(full)  # what it uses


def test_a_text_line_without_an_exception_is_the_generic_format_and_leaves_the_record():
    rec = record("hello %s token=%s", "world", "abcdefgh123", requestId="rid-1", session="s1")
    before = dict(rec.__dict__)
    line = logs.TextFormatter().format(rec)
    stamp = logging.Formatter().formatTime(rec)
    assert line == f"{stamp} INFO waengine.test MainThread [rid-1 s1]: hello world token=***"
    assert rec.__dict__ == before
    assert logs.TextFormatter().format(record("no context")).endswith(
        "MainThread [- -]: no context")
