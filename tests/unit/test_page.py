"""The typed facade over bridge.js: the only Python code that names an in-page op."""

import re
from pathlib import Path

import pytest

from waengine.engine.page import Page, SendOp, location_args, text_args

WAENGINE = Path(__file__).resolve().parents[2] / "waengine"
BRIDGE_JS = (WAENGINE / "engine" / "bridge.js").read_text()


def js_ops() -> set[str]:
    body = BRIDGE_JS.split("var ops = {", 1)[1].split("\n  };", 1)[0]
    return set(re.findall(r"^    (\w+): async function", body, re.M))


def page_ops() -> set[str]:
    source = (WAENGINE / "engine" / "page.py").read_text()
    return set(re.findall(r'self\._run\("(\w+)"', source)) | {op.value for op in SendOp}


def test_every_page_method_names_an_op_bridge_js_has_and_every_op_is_used():
    assert page_ops() == js_ops()


def test_nothing_outside_the_page_runs_an_op_by_name():
    runs_op = re.compile(r"\.call\(|submit\(lambda")
    found = [f"{p.relative_to(WAENGINE)}:{n}" for p in WAENGINE.rglob("*.py")
             if p.name != "page.py" and "sandbox" not in p.parts
             for n, line in enumerate(p.read_text().splitlines(), 1) if runs_op.search(line)]
    assert found == []


class Recorder:
    """A session whose worker runs the command against a recording bridge at once."""

    def __init__(self):
        self.calls = []
        self.need_connected = None

    def submit(self, fn, need_connected=True, checked=False):
        self.need_connected = need_connected
        return fn(self)

    def call(self, op, **args):
        self.calls.append((op, args))
        return {"op": op}


def test_methods_send_their_op_and_arguments_to_the_worker():
    session = Recorder()
    page = Page(session)
    page.get_messages("628@c.us", 5)
    page.change_participants("1@g.us", ["628@c.us"], [])
    page.send("sendLocation", location_args("628@c.us", 1.5, 2.5))
    assert session.calls == [
        ("getMessages", {"chatId": "628@c.us", "limit": 5}),
        ("changeParticipants", {"groupId": "1@g.us", "add": ["628@c.us"], "remove": []}),
        ("sendLocation", {"to": "628@c.us", "latitude": 1.5, "longitude": 2.5, "name": None,
                          "address": None})]
    assert session.need_connected is True
    Page(session, need_connected=False).pairing_code("628123")
    assert session.need_connected is False and session.calls[-1] == (
        "pairingCode", {"phone": "628123"})


def test_a_stored_send_with_an_unknown_op_is_refused():
    with pytest.raises(ValueError):
        Page(Recorder()).send("logout", {})
    assert text_args("628@c.us", "hi") == {"to": "628@c.us", "text": "hi", "replyTo": None,
                                           "mentions": []}
