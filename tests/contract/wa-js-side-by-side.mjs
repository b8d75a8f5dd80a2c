// wa-js 4.6.0's own code, run under node next to the sandbox's version of it on the same inputs
// (tests/unit/test_contract.py). Types cannot see what a getter does: this runs it.
//
// The bundle (node_modules/@wppconnect/wa-js/dist/wppconnect-wa.js) is webpack: its modules sit
// in one object keyed by id, and wa-js reaches WhatsApp's own modules through a few of them
// (14647: WhatsApp's classes and stores, 72927: the account, 52757: WhatsApp's functions,
// 41687: ids through WhatsApp's WidFactory, 7222/13691: the loader and wa-js's emitter). Those
// are pre-filled in the module cache with the sandbox's stand-ins; everything else is wa-js's
// own code, loaded by id. Prints one JSON object: {case: {real, sandbox, bridge}}.
// Run: node --experimental-default-type=module tests/contract/wa-js-side-by-side.mjs
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { webcrypto } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const WPP_DIR = path.join(ROOT, 'waengine', 'sandbox', 'static', 'wpp');

// What the sandbox's modules and bridge.js touch of a browser when they load.
globalThis.window = globalThis;
globalThis.top = globalThis;
globalThis.document = { readyState: 'complete', querySelector: () => null,
  getElementById: () => null, addEventListener() {}, createElement: () => ({}) };
globalThis.location = { origin: 'http://sandbox.test', href: 'http://sandbox.test/' };
// A browser's crypto.getRandomValues: global from Node 19, behind a flag in Debian 12's Node 18
if (!globalThis.crypto) globalThis.crypto = webcrypto;
const saved = {};
globalThis.sessionStorage = { getItem: (k) => saved[k] || null, setItem: (k, v) => { saved[k] = v; } };

// api.js first, as the page's wpp.js does (the modules import each other in a cycle).
await import(path.join(WPP_DIR, 'api.js'));
const ids = await import(path.join(WPP_DIR, 'ids.js'));
const models = await import(path.join(WPP_DIR, 'models.js'));
const { state } = await import(path.join(WPP_DIR, 'state.js'));
const sandboxChat = await import(path.join(WPP_DIR, 'chat.js'));
const { createWid, MsgKey, Wid } = ids;

/** wa-js's webpack require, over a module cache pre-filled with `seed` ({id: exports}). */
function waJs(seed) {
  const file = path.join(ROOT, 'node_modules', '@wppconnect', 'wa-js', 'dist', 'wppconnect-wa.js');
  const text = fs.readFileSync(file, 'utf8').trimEnd();
  const tail = 'let __webpack_exports__=__webpack_require__(28156);self.WPP=__webpack_exports__})();';
  const cache = 'const __webpack_module_cache__={};';
  const start = text.indexOf('(()=>{var __webpack_modules__=');
  if (!text.endsWith(tail) || !text.includes(cache) || start < 0) {
    throw new Error('the wa-js bundle is not laid out as 4.6.0 is: update this loader');
  }
  const cached = {};
  for (const [id, exports] of Object.entries(seed)) cached[id] = { exports };
  const body = text.slice(start, -tail.length)
    .replace(cache, 'const __webpack_module_cache__=__seed;') + 'return __webpack_require__;})();';
  return new Function('__seed', 'self', 'return ' + body)(cached, globalThis);
}

// ---- the account and WhatsApp's stand-ins ----
const ME = '628100000001@c.us';
const ME_LID = '90000000001@lid';
state.me = { wid: createWid(ME), lid: createWid(ME_LID), name: 'Me', device: 1, business: false };
state.loggedIn = true;

const added = []; // MsgStore 'add' listeners wa-js registers
class WAMsgModel { // WhatsApp's MsgModel before wa-js patches it: fields only
  constructor(attrs) { Object.assign(this, attrs); }
  once() {}
}
const quotedStore = new Map(); // what WhatsApp's getQuotedMsgObj finds, by stanza id
const whatsapp = {
  Wid, MsgKey, MsgModel: WAMsgModel, ChatModel: models.ChatModel,
  MsgStore: { on: (name, fn) => { if (name === 'add') added.push(fn); }, get: () => undefined },
  ChatStore: { get: () => undefined },
};
const emitted = [];
const require = waJs({
  14647: whatsapp,
  72927: { getMyUserId: () => createWid(ME), getMyUserWid: () => createWid(ME),
    getMyUserLid: () => createWid(ME_LID) },
  52757: { getQuotedMsgObj: (m) => quotedStore.get(m.quotedStanzaID), randomMessageId: () => '3EB0AAAABBBBCCCCDDDD' },
  13691: { internalEv: { emit: (name, m) => emitted.push([name, m]) } },
  7222: { onInjected: (fn) => fn() },
  41687: { assertWid: ids.assertWid }, // util/assertWid: WhatsApp's WidFactory underneath
});
const real = {
  getQuotedMsgKey: require(95885).getQuotedMsgKey, // chat/functions/getQuotedMsgKey
  generateMessageID: require(78626).generateMessageID, // chat/functions/generateMessageID
};
// chat/patch (16349): the quotedMsgId getter and the MsgStore 'add' hook, on WAMsgModel
waJsPatch();
function waJsPatch() {
  const patched = waJs({
    14647: whatsapp,
    97829: { getQuotedMsgKey: real.getQuotedMsgKey },
    52757: { getQuotedMsgObj: (m) => quotedStore.get(m.quotedStanzaID) },
    13691: { internalEv: { emit: (name, m) => emitted.push([name, m]) } },
    7222: { onInjected: (fn) => fn() },
  });
  patched(16349);
}

// ---- bridge.js, loaded as the page loads it ----
const bridgeSource = fs.readFileSync(path.join(ROOT, 'waengine', 'engine', 'bridge.js'), 'utf8')
  .replace('__WAENGINE_CONFIG__', '{"inject": false}');
vm.runInThisContext(bridgeSource, { filename: 'bridge.js' });
window.WPP = { on() {}, conn: { getMyUserId: () => createWid(ME) } };
const bridge = window.__waengine.helpers;

// ---- the cases ----
const w = (x) => (x === undefined ? undefined : createWid(x));
function outcome(fn) {
  try {
    const v = fn();
    return { value: v === undefined || v === null ? null : String(v) };
  } catch (e) {
    return { error: e && e.code ? e.code : String(e) };
  }
}
async function outcomeAsync(fn) {
  try {
    const v = await fn();
    return { value: v === undefined || v === null ? null : String(v) };
  } catch (e) {
    return { error: e && e.code ? e.code : String(e) };
  }
}

const PEER = '628122223333@c.us';
const MEMBER = '628144445555@c.us';
const GROUP = '120363000000000001@g.us';
const MESSAGES = {
  notAReply: { id: new MsgKey({ fromMe: false, remote: PEER, id: 'A1' }), from: w(PEER), to: w(ME) },
  replyToThem: { id: new MsgKey({ fromMe: false, remote: PEER, id: 'A2' }), from: w(PEER), to: w(ME),
    quotedStanzaID: 'Q2', quotedParticipant: w(PEER) },
  replyToMe: { id: new MsgKey({ fromMe: false, remote: PEER, id: 'A3' }), from: w(PEER), to: w(ME),
    quotedStanzaID: 'Q3', quotedParticipant: w(ME) },
  myReplyToThem: { id: new MsgKey({ fromMe: true, remote: PEER, id: 'A4' }), from: w(ME), to: w(PEER),
    quotedStanzaID: 'Q4', quotedParticipant: w(PEER) },
  groupReplyToMember: { id: new MsgKey({ fromMe: false, remote: GROUP, id: 'A5', participant: PEER }),
    from: w(GROUP), to: w(ME), author: w(PEER), quotedStanzaID: 'Q5', quotedParticipant: w(MEMBER) },
  groupReplyToMe: { id: new MsgKey({ fromMe: false, remote: GROUP, id: 'A6', participant: PEER }),
    from: w(GROUP), to: w(ME), author: w(PEER), quotedStanzaID: 'Q6', quotedParticipant: w(ME) },
  privateReplyToGroupMessage: { id: new MsgKey({ fromMe: false, remote: PEER, id: 'A7' }),
    from: w(PEER), to: w(ME), quotedStanzaID: 'Q7', quotedRemoteJid: w(GROUP), quotedParticipant: w(MEMBER) },
  replyToStatus: { id: new MsgKey({ fromMe: false, remote: PEER, id: 'A8' }), from: w(PEER), to: w(ME),
    quotedStanzaID: 'Q8', quotedRemoteJid: w('status@broadcast'), quotedParticipant: w(PEER) },
  replyToMyLid: { id: new MsgKey({ fromMe: false, remote: '5550001@lid', id: 'A9' }),
    from: w('5550001@lid'), to: w(ME_LID), quotedStanzaID: 'Q9', quotedParticipant: w(ME_LID) },
};

const out = { quotedMsgId: {}, bridgeQuotedId: {}, newMessageHook: {}, generateMessageID: {} };
for (const [name, fields] of Object.entries(MESSAGES)) {
  const onReal = new WAMsgModel(fields); // the getter wa-js installed on WhatsApp's MsgModel
  const onSandbox = new models.MsgModel(fields);
  out.quotedMsgId[name] = {
    real: outcome(() => onReal.quotedMsgId),
    sandbox: outcome(() => onSandbox.quotedMsgId),
  };
  // bridge.js never touches the throwing getter: the key, or null on a message that is no reply
  out.bridgeQuotedId[name] = {
    real: outcome(() => onReal.quotedMsgId),
    bridgeOnReal: outcome(() => bridge.msgJSON(onReal).quotedId),
    bridgeOnSandbox: outcome(() => bridge.msgJSON(onSandbox).quotedId),
  };
}

// The MsgStore 'add' hook: a new reply whose quoted message WhatsApp has loaded carries that
// message's own key as quotedMsgId (not the one the getter would build).
{
  const quoted = new WAMsgModel({ id: new MsgKey({ fromMe: false, remote: GROUP, id: 'Q5', participant: ME_LID }) });
  quotedStore.set('Q5', quoted);
  const fields = { ...MESSAGES.groupReplyToMember, isNewMsg: true };
  const onReal = new WAMsgModel(fields);
  added.forEach((fn) => fn(onReal));
  await new Promise((resolve) => setTimeout(resolve, 10));
  const seen = emitted.find(([name, m]) => name === 'chat.new_message' && m === onReal);
  const onSandbox = new models.MsgModel(fields);
  sandboxChat.beforeNewMessage(onSandbox, () => quoted);
  out.newMessageHook.loadedQuote = {
    real: { emitted: !!seen, quotedMsgId: outcome(() => onReal.quotedMsgId) },
    sandbox: { emitted: true, quotedMsgId: outcome(() => onSandbox.quotedMsgId) },
    bridgeOnReal: outcome(() => bridge.msgJSON(onReal).quotedId),
    bridgeOnSandbox: outcome(() => bridge.msgJSON(onSandbox).quotedId),
  };
}

// generateMessageID: the key a pre-assigned send id carries (the random part differs)
for (const [name, chat] of Object.entries({ person: PEER, lid: '5550001@lid', group: GROUP })) {
  const shape = (key) => String(key).replace(/_[0-9A-F]{20}(_|$)/, '_<id>$1');
  out.generateMessageID[name] = {
    real: await outcomeAsync(async () => shape(await real.generateMessageID(chat))),
    sandbox: await outcomeAsync(async () => shape(await sandboxChat.ownKeyFor(createWid(chat)))),
  };
}

console.log(JSON.stringify(out));
process.exit(0);
