"""The page's self-check (bridge.js USES and OPTIONAL) names every wa-js function the bridge
calls, so a WhatsApp Web build that lacks one is caught at page load (docs/sessions.md)."""

from __future__ import annotations

import re

from waengine.engine.status import derive_status, failure_details
from waengine.vocabulary import Status

from .test_contract import BRIDGE_JS, bridge_calls


def listed(name: str) -> dict[str, set[str]]:
    text = BRIDGE_JS.read_text()
    block = text[text.index(f"var {name} = {{"):]
    block = block[:block.index("};")]
    return {ns: set(re.findall(r"'([A-Za-z]+)'", names))
            for ns, names in re.findall(r"(\w+): \[([^\]]*)\]", block)}


def test_the_self_check_lists_every_call_the_bridge_makes_once():
    uses, optional = listed("USES"), listed("OPTIONAL")
    merged: dict[str, set[str]] = {}
    for ns in set(uses) | set(optional):
        both = uses.get(ns, set()) & optional.get(ns, set())
        assert not both, f"{ns}: {both} both required and optional"
        merged[ns] = uses.get(ns, set()) | optional.get(ns, set())
    assert merged == bridge_calls()


def test_a_miss_fails_the_session_with_the_names_and_versions():
    state = {"fullReady": True, "auth": True, "mode": "MAIN", "version": "4.6.0",
             "waVersion": "2.3001.1", "missing": ["chat.sendTextMessage"]}
    assert derive_status(state, Status.CONNECTED) == (Status.FAILED, "wa_update_required")
    assert failure_details("wa_update_required", state) == {
        "missing": ["chat.sendTextMessage"], "waVersion": "2.3001.1", "waJsVersion": "4.6.0",
        "mode": "MAIN"}
    assert derive_status({**state, "missing": []}, Status.CONNECTED) == (Status.CONNECTED, None)
