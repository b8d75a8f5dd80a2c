"""bridge.js's phone <-> @lid cache and event order, run in Node with a fake WPP (no browser)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

BRIDGE_JS = Path(__file__).resolve().parents[2] / "waengine" / "engine" / "bridge.js"

NODE = shutil.which("node")


@pytest.fixture(autouse=True)
def node_installed():
    assert NODE, "node is not installed (make install)"

# A window just big enough for bridge.js; WPP.contact.getPnLidEntry counts its calls and answers
# `<digits>@lid` <-> `62<digits>@c.us`, except for ids starting with 9 (WhatsApp knows no pair).
HARNESS = r"""
const fs = require('fs');
global.window = global; window.top = window;
global.document = {readyState: 'complete', addEventListener() {}};
global.location = {href: 'about:blank'};
const saved = {};
global.sessionStorage = {getItem: (k) => saved[k] || null, setItem: (k, v) => { saved[k] = v; }};
eval(fs.readFileSync(process.argv[1], 'utf8').replace('__WAENGINE_CONFIG__', '{"inject": false}'));
const w = window.__waengine;
let calls = 0;
let gate = null;
const handlers = {};
const P = {
  isFullReady: true,
  on(name, fn) { (handlers[name] = handlers[name] || []).push(fn); },
  contact: {async getPnLidEntry(id) {
    calls += 1;
    if (gate) await gate;
    const [user, server] = id.split('@');
    if (user.startsWith('9')) {
      return server === 'lid' ? {lid: {_serialized: id}} : {phoneNumber: {_serialized: id}};
    }
    return server === 'lid' ? {lid: {_serialized: id}, phoneNumber: {_serialized: '62' + user + '@c.us'}}
                            : {lid: {_serialized: user.slice(2) + '@lid'}, phoneNumber: {_serialized: id}};
  }},
};
const out = {};
(async () => {
  out.pair = await w.helpers.idsOf(P, '1111@lid');
  out.callsAfterFirst = calls;
  out.samePair = await w.helpers.idsOf(P, '621111@c.us');
  out.callsAfterCached = calls;
  out.unknown = await w.helpers.idsOf(P, '9999@lid');
  await w.helpers.idsOf(P, '9999@lid');
  out.callsAfterUnknownTwice = calls;
  out.group = await w.helpers.idsOf(P, '120363000000000001@g.us');
  for (let i = 0; i < 6000; i++) await w.helpers.idsOf(P, (100000 + i) + '@lid');
  out.cacheSize = w.pairs.size;
  const before = calls;
  await w.helpers.idsOf(P, '100000@lid');
  out.oldestEvicted = calls === before + 1;

  // events: a message waits for its ids; what comes after it waits behind it
  const notified = [];
  window.__waengineNotify = (payload) => {
    if (payload !== 'state') notified.push(...JSON.parse(payload).events);
  };
  window.WPP = P;
  let open;
  gate = new Promise((resolve) => { open = resolve; });
  const key = {_serialized: 'false_2222@lid_3A00', remote: {_serialized: '2222@lid'},
               fromMe: false, id: '3A00'};
  handlers['chat.new_message'][0]({id: key, type: 'chat', body: 'hi', from: {_serialized: '2222@lid'}, t: 1});
  handlers['chat.msg_ack_change'][0]({ack: 2, chat: '2222@lid', ids: []});
  out.notifiedWhilePending = notified.length;
  out.pollWhilePending = (await w.poll([])).events.length;
  open();
  await new Promise((resolve) => setTimeout(resolve, 20));
  out.order = notified.map((e) => e.type);
  out.senderIds = notified[0].data.senderIds;
  console.log(JSON.stringify(out));
})();
"""


@pytest.fixture(scope="module")
def result() -> dict:
    done = subprocess.run([NODE, "-e", HARNESS, str(BRIDGE_JS)], capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_lid_resolves_to_both_ids_and_the_pair_is_cached_both_ways(result):
    assert result["pair"] == {"phone": "621111@c.us", "lid": "1111@lid"}
    assert result["samePair"] == result["pair"]
    assert result["callsAfterFirst"] == result["callsAfterCached"] == 1


def test_a_half_known_pair_is_not_cached_and_a_group_is_no_person(result):
    assert result["unknown"] == {"phone": None, "lid": "9999@lid"}
    assert result["callsAfterUnknownTwice"] == 3  # asked again: WhatsApp may learn it later
    assert result["group"] == {"phone": None, "lid": None}


def test_the_cache_is_bounded_and_drops_the_oldest(result):
    assert result["cacheSize"] <= 5000
    assert result["oldestEvicted"] is True


def test_a_message_waits_for_its_ids_and_nothing_overtakes_it(result):
    assert result["notifiedWhilePending"] == 0 and result["pollWhilePending"] == 0
    assert result["order"] == ["message", "message.ack"]
    assert result["senderIds"] == {"phone": "622222@c.us", "lid": "2222@lid"}
