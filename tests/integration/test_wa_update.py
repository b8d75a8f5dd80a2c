"""WhatsApp Web updates (docs/sessions.md, "Bad days"), on real Chromium and the sandbox.

A new WhatsApp Web build can lack functions the injected wa-js exposes. The sandbox's wa-update
control makes the pages of a phone load such a build: the gateway's self-check at page load
ends the session FAILED wa_update_required, naming what is missing and both versions, instead
of letting its calls fail one by one.
"""

from __future__ import annotations

import re

import pytest

from waengine.cli import main

from ..conftest import phones, wait_for
from .conftest import assert_no_browsers

number = phones(__name__)
ME = number(1)
UPDATE = {"remove": ["chat.sendTextMessage"],
          "rename": {"chat.forwardMessage": "chat.forwardMessagesToChats"},
          "version": "2.3001.1"}


def test_a_page_whose_build_lacks_wa_js_functions_ends_failed_naming_them(
        make_gateway, sandbox, receiver):
    gw = make_gateway(WEBHOOK_URL=receiver.url)
    linked = gw.link(sandbox, "upd", ME)
    assert linked["wa"]["waJsVersion"] == "4.6.0"
    assert linked["wa"]["waVersion"] == "2.3000.1038792969"  # recorded at the page load
    assert linked["wa"]["selfCheck"]["missing"] == [] and linked["wa"]["selfCheck"]["checked"] > 50
    health = gw.client.get("/health").json
    assert health["versions"]["upd"] == {"waVersion": "2.3000.1038792969", "waJsVersion": "4.6.0"}

    sandbox.post(f"/_sandbox/phones/{ME}/wa-update", **UPDATE)
    assert gw.client.post("/sessions/upd/reconnect").status_code == 202  # the next page load
    failed = gw.wait_status("upd", "FAILED", timeout=90)
    assert failed["statusReason"] == "wa_update_required"
    assert failed["statusDetails"]["missing"] == ["chat.forwardMessage", "chat.sendTextMessage"]
    assert failed["statusDetails"]["waVersion"] == "2.3001.1"
    assert failed["statusDetails"]["waJsVersion"] == "4.6.0"
    assert failed["browser"] is None
    event = wait_for(lambda: [e["data"] for e in receiver.delivered()
                              if e["type"] == "session.status" and e["data"]["status"] == "FAILED"],
                     timeout=30, message="the FAILED event")
    assert event[0]["reason"] == "wa_update_required"
    assert event[0]["details"]["missing"] == ["chat.forwardMessage", "chat.sendTextMessage"]
    # the sends never reached a page that could not make them
    assert gw.client.post("/sessions/upd/messages",
                          json={"to": ME, "text": "x"}).status_code == 409

    sandbox.post(f"/_sandbox/phones/{ME}/wa-update")  # a wa-js that fits (or the old build)
    assert gw.client.post("/sessions/upd/start").status_code == 202
    back = gw.wait_status("upd", "CONNECTED", timeout=90)
    assert back["wa"]["selfCheck"]["missing"] == [] and back["wa"]["waVersion"] == "2.3000.1038792969"


@pytest.mark.browser
def test_doctor_page_shows_both_versions_and_the_self_check(sandbox_url, monkeypatch, tmp_path,
                                                            capsys):
    monkeypatch.setenv("WAENGINE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("WAENGINE_WA_URL", sandbox_url + "/")
    assert main(["doctor", "--page"]) == 0
    out = capsys.readouterr().out
    assert "[ok] WhatsApp Web loaded" in out
    assert "WhatsApp Web 2.3000.1038792969; wa-js 4.6.0" in out
    found = re.search(r"\[ok\] wa-js self-check: (\d+) of (\d+) functions", out)
    assert found and found.group(1) == found.group(2), out
    assert_no_browsers("waengine-doctor-")  # its throwaway profile folder's prefix
