/*
 * Page weight `field`: make this page cost a browser what WhatsApp Web costs it (see
 * waengine/sandbox/weight.py for the figures and docs/sandbox.md for their sources).
 *
 * At load, before WPP reports ready (WhatsApp Web too loads its modules first):
 *  - parse and run generated script chunks from the page's origin (the app's code);
 *  - build a model store of chats and messages in the JS heap;
 *  - render a chat list into the DOM;
 *  - fill an IndexedDB with message records, once per profile, and read it back.
 * Then, for as long as the page lives:
 *  - a timer ticks over the models, and a ping goes to the server now and then;
 *  - every message the page shows keeps a render cache, up to a cap (an active chat grows
 *    the heap, as WhatsApp Web's does).
 */

import { ev } from './events.js';

const IDB = 'field-model-storage';
const retained = [];
export const fieldStats = { scripts: 0, modules: 0, chats: 0, messages: 0, domNodes: 0,
  idbRecords: 0, retained: 0 };

export async function applyWeight(options) {
  if (options.pageWeight !== 'field' || !options.field) return;
  const f = options.field;
  await loadScripts(f.script_chunks);
  const chats = buildModels(f.chats, f.messages_per_chat);
  renderChatList(chats);
  fieldStats.idbRecords = await fillIndexedDb(f.idb_messages);
  keepBusy(chats, f.tick_ms, f.ping_s);
  retainRenderCaches(f.retain_per_message, f.retain_max);
  window.__fieldWeight = fieldStats;
}

function loadScripts(count) {
  const one = (i) => new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = `/_sandbox/field/chunk-${i}.js`;
    s.onload = resolve;
    s.onerror = () => reject(new Error(`field chunk ${i} did not load`));
    document.head.appendChild(s);
  });
  return (async () => {
    for (let i = 0; i < count; i++) await one(i);
    fieldStats.scripts = count;
    // Run every module once, and a third of their functions: compiled code stays in the heap.
    const exports = [];
    for (const m of self.__fieldModules || []) {
      const made = m();
      made.f.forEach((fn, i) => { if (i % 3 === 0) fn({ [made.s[0]]: [1, 2] }, 2); });
      exports.push(made);
    }
    self.__fieldExports = exports;
    fieldStats.modules = exports.length;
  })();
}

function text(seed, length) {
  let out = '';
  let x = seed | 0;
  while (out.length < length) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out += x.toString(36) + ' ';
  }
  return out.slice(0, length);
}

function buildModels(chatCount, perChat) {
  const chats = [];
  for (let c = 0; c < chatCount; c++) {
    const id = `62800${String(c).padStart(8, '0')}@c.us`;
    const msgs = [];
    for (let m = 0; m < perChat; m++) {
      const seed = c * 100003 + m;
      msgs.push({
        id: { fromMe: m % 2 === 0, remote: id, id: `3EB0${seed.toString(16).toUpperCase()}F1`,
          _serialized: `${m % 2 === 0}_${id}_3EB0${seed.toString(16)}` },
        body: text(seed, 120 + (seed % 160)), type: 'chat', t: 1700000000 + seed, ack: 3,
        from: id, notifyName: text(seed + 7, 12), reactions: [], mentionedJidList: [],
        mediaKey: m % 9 === 0 ? new Uint8Array(32).fill(seed & 255) : null,
      });
    }
    chats.push({ id, name: text(c, 18), unreadCount: c % 4, t: 1700000000 + c, msgs,
      presence: { isOnline: false, chatstates: [] }, labels: [] });
    fieldStats.messages += perChat;
  }
  fieldStats.chats = chatCount;
  self.__fieldChats = chats;
  return chats;
}

function renderChatList(chats) {
  const pane = document.createElement('div');
  pane.id = 'field-pane';
  pane.setAttribute('aria-hidden', 'true');
  for (const chat of chats) {
    const row = document.createElement('div');
    row.className = 'field-row';
    row.innerHTML = '<div class="avatar"><img alt="" width="49" height="49"></div>'
      + '<div class="cell"><div class="top"><span class="name"></span><span class="time"></span>'
      + '</div><div class="bottom"><span class="ticks"></span><span class="last"></span>'
      + '<span class="badge"></span></div></div>';
    row.querySelector('.name').textContent = chat.name;
    row.querySelector('.time').textContent = new Date(chat.t * 1000).toISOString().slice(11, 16);
    row.querySelector('.last').textContent = chat.msgs[chat.msgs.length - 1].body.slice(0, 60);
    row.querySelector('.badge').textContent = chat.unreadCount || '';
    pane.appendChild(row);
  }
  document.body.appendChild(pane);
  fieldStats.domNodes = document.getElementsByTagName('*').length;
}

function idb(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function fillIndexedDb(records) {
  const open = indexedDB.open(IDB, 1);
  open.onupgradeneeded = () => open.result.createObjectStore('message', { keyPath: 'id' });
  const db = await idb(open);
  const count = await idb(db.transaction('message').objectStore('message').count());
  for (let start = count; start < records; start += 1000) {
    const tx = db.transaction('message', 'readwrite');
    const store = tx.objectStore('message');
    for (let i = start; i < Math.min(records, start + 1000); i++) {
      store.put({ id: `m${i}`, chat: `62800${String(i % 300).padStart(8, '0')}@c.us`,
        t: 1700000000 + i, body: text(i, 300), ack: 3, type: 'chat' });
    }
    await new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onerror = () => reject(tx.error); });
  }
  const stored = await idb(db.transaction('message').objectStore('message').count());
  db.close();
  return stored;
}

function keepBusy(chats, tickMs, pingSeconds) {
  let i = 0;
  setInterval(() => {
    // What an idle WhatsApp Web page does every second: walk models for presence and times.
    const chat = chats[i++ % chats.length];
    chat.presence.checkedAt = Date.now();
    chat.t = Math.max(chat.t, chat.msgs[chat.msgs.length - 1].t);
  }, tickMs);
  setInterval(() => { fetch('/_sandbox/field/ping', { cache: 'no-store' }).catch(() => {}); },
    pingSeconds * 1000);
}

function retainRenderCaches(bytes, max) {
  // JS objects, not an ArrayBuffer: the growth is in the JS heap, where WhatsApp Web's is.
  const keep = () => {
    retained.push(Array.from({ length: bytes >> 4 }, (_, k) => ({ k })));
    if (retained.length > max) retained.shift();
    fieldStats.retained = retained.length;
  };
  ev.on('chat.new_message', keep);
}
