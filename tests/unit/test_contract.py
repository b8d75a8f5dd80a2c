"""The bridge/wa-js contract: TypeScript checks bridge.js and the sandbox's WPP against
@wppconnect/wa-js 4.6.0's own .d.ts files (tsconfig.json, tests/contract/sandbox-wpp.ts), and
wa-js's own code (getters, key building) runs under node next to the sandbox's version
(tests/contract/wa-js-side-by-side.mjs)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TSC = ROOT / "node_modules" / ".bin" / "tsc"
BRIDGE_JS = ROOT / "waengine" / "engine" / "bridge.js"
SANDBOX_CONTRACT = ROOT / "tests" / "contract" / "sandbox-wpp.ts"


def tsc(project: Path) -> subprocess.CompletedProcess:
    assert TSC.exists(), "npm typescript is missing: make install (npm ci) brings it"
    return subprocess.run([shutil.which("node") or "node", str(TSC), "-p", str(project), "--pretty", "false"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_bridge_and_sandbox_match_the_wa_js_types():
    run = tsc(ROOT / "tsconfig.json")
    assert run.returncode == 0, run.stdout + run.stderr


def bridge_calls() -> dict[str, set[str]]:
    calls: dict[str, set[str]] = {}
    for ns, name in re.findall(r"\bP\.([a-z]+)\.([A-Za-z]+)", BRIDGE_JS.read_text()):
        if ns != "whatsapp":  # WhatsApp's own classes: the sandbox has no contract for them
            calls.setdefault(ns, set()).add(name)
    return calls


def test_the_sandbox_contract_covers_every_call_the_bridge_makes():
    text = SANDBOX_CONTRACT.read_text()
    block = text[text.index("export const USED = {"):text.index("} as const;")]
    listed = {ns: set(re.findall(r"'([A-Za-z]+)'", names))
              for ns, names in re.findall(r"\n  (\w+): \[([^\]]*)\]", block)}
    assert listed == bridge_calls()


# a misspelt WPP function, an option wa-js does not have, an event field that is not there
MISMATCHES = [
    ("P.chat.sendTextMessage(to", "P.chat.sendTextMesage(to", "sendTextMesage"),
    ("P.chat.list({ignoreGroupMetadata: true})", "P.chat.list({ignoreGroupMeta: true})",
     "ignoreGroupMeta"),
    ("peerJid: str(e.peerJid)", "peerJid: str(e.peerJidd)", "peerJidd"),
]


def test_a_mismatch_fails_the_check(tmp_path):
    source = BRIDGE_JS.read_text()
    for old, new, _ in MISMATCHES:
        assert old in source
        source = source.replace(old, new, 1)
    (tmp_path / "bridge.js").write_text(source)
    (tmp_path / "tsconfig.json").write_text(json.dumps({
        "extends": str(ROOT / "tsconfig.json"),
        # the copy is outside the tree: it finds the package where bridge.js does
        "compilerOptions": {"paths": {"@wppconnect/wa-js": [
            str(ROOT / "node_modules" / "@wppconnect" / "wa-js")]}},
        "files": [str(ROOT / "waengine" / "engine" / "bridge.d.ts"), str(tmp_path / "bridge.js")],
    }))
    run = tsc(tmp_path / "tsconfig.json")
    assert run.returncode != 0
    errors = [line for line in run.stdout.splitlines() if "error TS" in line]
    for _, _, name in MISMATCHES:
        assert any("bridge.js" in line and f"'{name}'" in line for line in errors), run.stdout


SIDE_BY_SIDE = ROOT / "tests" / "contract" / "wa-js-side-by-side.mjs"


@pytest.fixture(scope="module")
def side_by_side() -> dict:
    """wa-js 4.6.0's own modules (from the bundle) and the sandbox's versions, same inputs."""
    run = subprocess.run([shutil.which("node") or "node", "--experimental-default-type=module",
                          str(SIDE_BY_SIDE)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


def test_the_sandbox_quoted_msg_id_getter_is_wa_js_s(side_by_side):
    cases = side_by_side["quotedMsgId"]
    assert cases["notAReply"]["real"] == {"error": "message_not_have_a_reply"}  # the trap itself
    for name, case in cases.items():
        assert case["sandbox"] == case["real"], name


def test_the_bridge_reads_the_reply_key_without_the_throwing_getter(side_by_side):
    for name, case in side_by_side["bridgeQuotedId"].items():
        expected = case["real"] if "value" in case["real"] else {"value": None}
        assert case["bridgeOnReal"] == expected, name
        assert case["bridgeOnSandbox"] == expected, name


def test_a_new_reply_carries_its_loaded_quote_s_own_key(side_by_side):
    case = side_by_side["newMessageHook"]["loadedQuote"]
    assert case["real"]["emitted"] and case["sandbox"] == case["real"]
    assert case["bridgeOnReal"] == case["bridgeOnSandbox"] == case["real"]["quotedMsgId"]


def test_pre_assigned_keys_are_built_as_wa_js_builds_them(side_by_side):
    cases = side_by_side["generateMessageID"]
    assert cases["group"]["real"]["value"].endswith("@lid")  # a group key names our LID
    for name, case in cases.items():
        assert "value" in case["real"] and case["sandbox"] == case["real"], name
