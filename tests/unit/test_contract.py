"""The bridge/wa-js contract: TypeScript checks bridge.js and the sandbox's WPP against
@wppconnect/wa-js 4.6.0's own .d.ts files (tsconfig.json, tests/contract/sandbox-wpp.ts)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

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
