"""bridge.js on the field's odd inputs, run in Node with a fake WPP (no browser): message types
that are not customer content, callers with a device part or an @lid, a forward this WhatsApp
Web build cannot make, and a catch-up that never loads every group's metadata."""

from __future__ import annotations

import json
import subprocess

import pytest

from .test_bridge_js import BRIDGE_JS, NODE

HARNESS = r"""
const fs = require('fs');
global.window = global; window.top = window;
global.document = {readyState: 'complete', addEventListener() {}};
global.location = {href: 'about:blank'};
global.sessionStorage = {getItem: () => null, setItem() {}};
eval(fs.readFileSync(process.argv[1], 'utf8').replace('__WAENGINE_CONFIG__', '{"inject": false}'));
const w = window.__waengine;
const handlers = {};
const listCalls = [];
// 120 chats, newest first: 100 groups, then people; the last 20 are older than `since` (1000)
const chats = [];
for (let i = 0; i < 120; i++) {
  const id = i < 100 ? `1203630${i}@g.us` : `62811${i}@c.us`;
  chats.push({id: {_serialized: id, equals: (x) => String(x) === id, toString: () => id},
              t: i < 100 ? 2000 - i : 500, pin: false});
}
let forwardError = null;
const P = {
  isFullReady: true,
  on(name, fn) { (handlers[name] = handlers[name] || []).push(fn); },
  contact: {},
  conn: {getMyUserId: () => null},
  chat: {
    async list(opts) {
      listCalls.push(opts);
      let out = chats.slice();
      const at = (c) => c.id.equals(String(opts.id._serialized || opts.id));
      if (opts.id) out = out.slice(out.findIndex(at) + 1);
      return out.slice(0, opts.count === undefined ? out.length : opts.count);
    },
    async getMessages() { return []; },
    get: () => ({id: 'x'}),
    async getMessageById(id) { return {id: {_serialized: id}}; },
    async forwardMessage() { if (forwardError) throw forwardError; return undefined; },
  },
};
const out = {};
(async () => {
  window.WPP = P;
  const msg = (type, n, extra) => handlers['chat.new_message'][0](Object.assign({
    id: {_serialized: `false_62811@c.us_${n}`, remote: {_serialized: '62811@c.us'}, fromMe: false, id: n},
    type, body: 'b', from: {_serialized: '62811@c.us'}, t: 1}, extra || {}));
  msg('chat', 'A1');
  msg('unknown', 'A2');
  msg('pin_message', 'A3');
  msg('e2e_notification', 'A4');
  msg('image', 'A5', {caption: 'c'});
  handlers['call.incoming_call'][0]({id: 'CALL1', sender: {_serialized: '62822:12@c.us'},
                                     peerJid: {_serialized: '62822:12@c.us'}, isVideo: false});
  handlers['call.incoming_call'][0]({id: 'CALL2', sender: {_serialized: '555:3@lid'},
                                     peerJid: {_serialized: '555:3@lid'}});
  await new Promise((resolve) => setTimeout(resolve, 20));
  out.events = w.queue.map((e) => [e.type, e.data.type || null, e.data.from || null]);
  out.catchUp = await w.run('catchUp', {since: 1000, perChat: 5});
  out.listCalls = listCalls;
  out.forwardOk = await w.run('forwardMessage', {to: '120363099@g.us', id: 'true_x_1'});
  forwardError = {code: 'forward_messages_to_chats_not_available', message: 'gone'};
  out.forwardGone = await w.run('forwardMessage', {to: '120363099@g.us', id: 'true_x_1'});
  console.log(JSON.stringify(out));
})();
"""


@pytest.fixture(scope="module")
def result() -> dict:
    done = subprocess.run([NODE, "-e", HARNESS, str(BRIDGE_JS)], capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_only_customer_content_is_a_message_and_other_types_are_named_apart(result):
    events = [e for e in result["events"] if e[0] != "call.received"]
    assert events == [["message", "chat", "62811@c.us"],
                      ["message.unsupported", "unknown", "62811@c.us"],
                      ["message.unsupported", "pin_message", "62811@c.us"],
                      ["message", "image", "62811@c.us"]]  # e2e_notification: dropped


def test_a_caller_s_device_part_is_not_where_the_reply_goes(result):
    calls = [e[2] for e in result["events"] if e[0] == "call.received"]
    assert calls == ["62822@c.us", "555@lid"]


def test_catch_up_pages_the_chat_list_without_group_metadata_and_stops_at_old_chats(result):
    assert result["catchUp"] == {"ok": True, "value": []}
    assert all(opts["ignoreGroupMetadata"] is True for opts in result["listCalls"])
    assert [opts.get("count") for opts in result["listCalls"]] == [50, 50, 50]


def test_a_forward_answers_no_boolean_and_a_build_without_it_says_so(result):
    assert result["forwardOk"]["ok"] is True and result["forwardOk"]["value"]["forwarded"] is True
    assert result["forwardGone"]["ok"] is False
    assert result["forwardGone"]["code"] == "forward_unavailable"
