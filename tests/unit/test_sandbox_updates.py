"""The sandbox's WhatsApp Web update control: what a phone's pages load next (updates.py)."""
# ruff: noqa: F811 (pytest fixtures imported from test_sandbox_network)

from __future__ import annotations

import pytest

from waengine.sandbox.network import SandboxError

from .test_sandbox_network import ALICE, clock, linked_device, make_network, net  # noqa: F401

UPDATE = {"remove": ["chat.sendTextMessage"], "rename": {"chat.forwardMessage": "chat.forward"},
          "version": "2.3001.1"}


def test_a_page_with_the_login_loads_the_build_the_update_set_until_it_is_cleared(net):
    net.upsert_phone(ALICE, "Alice")
    login = linked_device(net, ALICE)
    assert net.hello(login["device"], login["token"], "c1")["update"] is None
    assert net.set_wa_update(ALICE, **UPDATE) == {"phone": ALICE, "update": UPDATE}
    assert net.hello(login["device"], login["token"], "c2")["update"] == UPDATE
    assert net.set_wa_update(ALICE) == {"phone": ALICE, "update": None}
    assert net.hello(login["device"], login["token"], "c3")["update"] is None


@pytest.mark.parametrize("bad", [{"remove": "chat.sendTextMessage"}, {"remove": ["send"]},
                                 {"rename": ["chat.a"]}, {"rename": {"chat.a": "b"}},
                                 {"version": "new"}])
def test_an_update_that_names_no_wa_js_function_is_refused(net, bad):
    net.upsert_phone(ALICE, "Alice")
    with pytest.raises(SandboxError) as refused:
        net.set_wa_update(ALICE, **bad)
    assert refused.value.status == 400
