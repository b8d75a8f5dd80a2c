// @ts-check  (tsconfig.json: the contract with wa-js 4.6.0, tests/unit/test_contract.py)
// waengine's in-page bridge: the only JavaScript the gateway runs in WhatsApp Web (or the sandbox).
// Installed at document start in every top-level document (CDP addScriptToEvaluateOnNewDocument),
// so it survives the reloads WhatsApp Web does after a QR scan or a logout.
// - registers WPP listeners the moment window.WPP is assigned (events are never replayed),
// - injects wa-js when the page has no WPP of its own (once per document),
// - turns WPP models into plain JSON (never hand a model to WebDriver: circular, leaky),
// - returns errors as data ({ok: false, code, message}), since WebDriver drops error codes,
// - queues events in sessionStorage until the gateway acknowledges them, so a reload loses none,
// - hands each event to the gateway the moment it is queued through the DevTools binding
//   window.__waengineNotify (engine/channel.py) when there is one; the gateway's slow safety
//   poll collects whatever a notification missed.
(function () {
  'use strict';
  // Types (checked by tsc against wa-js 4.6.0's own .d.ts files: tsconfig.json, bridge.d.ts)
  /** @typedef {typeof import('@wppconnect/wa-js')} WPPType */
  /** @typedef {import('@wppconnect/wa-js').whatsapp.MsgModel} MsgModel */
  /** @typedef {import('@wppconnect/wa-js').whatsapp.MsgKey} MsgKey */
  /** @typedef {import('@wppconnect/wa-js').whatsapp.ChatModel} ChatModel */
  /** @typedef {import('@wppconnect/wa-js').whatsapp.ContactModel} ContactModel */
  /** @typedef {import('@wppconnect/wa-js').whatsapp.GroupMetadataModel} GroupMetadataModel */
  /** @typedef {import('@wppconnect/wa-js').chat.SendMessageReturn} SendMessageReturn */
  // chat.getMessages is declared to answer RawMessage[]; the bundle answers MsgModels (module
  // 91520: MsgStore.get(e) || new MsgModel(e)). Both have the fields the serializers read.
  /** @typedef {import('@wppconnect/wa-js').chat.RawMessage} RawMessage */
  /** @typedef {{phone: string|null, lid: string|null}} Pair */
  /** @typedef {{code: string, message: string}} BridgeError  thrown by ops: the gateway's error */
  if (window.top !== window || window.__waengine) return;
  var CONFIG = __WAENGINE_CONFIG__;
  var QUEUE_KEY = 'waengine.queue';
  var w = {doc: Math.random().toString(36).slice(2), attached: false, injected: false,
           queue: [], seq: 0, seen: [], authCode: null, me: null, keepAlive: false,
           media: {}, mediaSeq: 0, watching: {}, inflight: {}};
  window.__waengine = w;
  // wa-js merges the page's WPPConfig over its defaults: a partial Config is what it reads
  if (CONFIG.wppConfig) window.WPPConfig = /** @type {WPPType['config']} */ (CONFIG.wppConfig);

  try {
    var saved = JSON.parse(window.sessionStorage.getItem(QUEUE_KEY) || 'null');
    if (saved && Array.isArray(saved.queue)) {
      w.queue = saved.queue;
      w.queue.forEach(function (e) { delete e.pending; });  // delivered as they were saved
    }
  } catch (e) { /* opaque origins have no sessionStorage */ }

  function persist() {
    try { window.sessionStorage.setItem(QUEUE_KEY, JSON.stringify({queue: w.queue})); } catch (e) {}
  }

  // The gateway's binding (absent when it polls instead): never throws into WPP's listeners.
  function notify(payload) {
    var f = window.__waengineNotify;
    if (typeof f !== 'function') return;
    try { f(payload); } catch (e) { /* the channel is gone: the safety poll collects */ }
  }

  // Events waiting for an async detail (a message's sender ids): they and every event queued
  // after them are handed over in order once it is in, so nothing overtakes a message.
  var held = [];
  function release() {
    var out = [];
    while (held.length && !held[0].pending) out.push(held.shift());
    if (out.length) notify(JSON.stringify({events: out}));
  }

  // `detail`: an optional promise of fields to add to data before the gateway sees the event.
  function push(type, data, detail) {
    w.seq += 1;
    var event = {id: w.doc + ':' + w.seq, type: type, data: data, at: Date.now()};
    w.queue.push(event);
    persist();  // first: the event survives a reload before the gateway has it
    if (detail) {
      event.pending = true;
      detail.then(function (extra) { Object.assign(data, extra || {}); }, function () {})
        .then(function () { delete event.pending; persist(); release(); });
    }
    held.push(event);
    release();
  }

  // ---- phone number <-> @lid (contact/functions/getPnLidEntry.d.ts, wa-js 4.6.0) ----
  // WhatsApp addresses many people by an opaque @lid; every message and contact the gateway
  // hands out carries both ids where WhatsApp knows both. Known pairs are kept (bounded: the
  // oldest go first); a half-known pair is asked again, since WhatsApp may learn it later.
  var PAIRS_MAX = 5000;
  var LOOKUP_MS = 3000;  // a phone id may need a server query: an event never waits longer
  w.pairs = new Map();
  function pairCached(id) { return w.pairs.get(id) || null; }
  function remember(pair) {
    [pair.phone, pair.lid].forEach(function (id) {
      w.pairs.delete(id);
      w.pairs.set(id, pair);
    });
    while (w.pairs.size > PAIRS_MAX) w.pairs.delete(w.pairs.keys().next().value);
  }
  /** @param {string|null} id */
  function isPerson(id) { return typeof id === 'string' && /@(c\.us|lid)$/.test(id); }
  /** @param {WPPType} P @param {string|null} id @returns {Promise<Pair>} */
  async function idsOf(P, id) {
    var pair = {phone: null, lid: null};
    if (!isPerson(id)) return pair;
    var hit = pairCached(id);
    if (hit) return hit;
    pair[id.slice(-4) === '@lid' ? 'lid' : 'phone'] = id.replace(/:\d+@/, '@');  // no device part
    if (!P.contact || typeof P.contact.getPnLidEntry !== 'function') return pair;
    var entry = null;
    try {
      entry = await Promise.race([P.contact.getPnLidEntry(id), new Promise(function (resolve) {
        setTimeout(resolve, LOOKUP_MS, null);
      })]);
    } catch (e) { /* invalid_wid or no answer: what the message says is all there is */ }
    if (entry && entry.phoneNumber) pair.phone = str(entry.phoneNumber);
    if (entry && entry.lid) pair.lid = str(entry.lid);
    if (pair.phone && pair.lid) remember(pair);
    return pair;
  }
  function bothIds(contact, pair) {
    if (pair.phone && !contact.phone) contact.phone = pair.phone.split('@')[0];
    if (pair.lid && !contact.lid) contact.lid = pair.lid;
    return contact;
  }
  // Who sent a message: the group author, else `from` (yours when you sent it).
  function senderOf(json) { return json.author || json.from; }
  /** @param {WPPType} P */
  async function senderIds(P, json) {
    return {senderIds: await idsOf(P, senderOf(json))};
  }
  /** @param {WPPType} P */
  async function withIds(P, json) {
    if (json) Object.assign(json, await senderIds(P, json));
    return json;
  }

  // The gateway committed these events to its outbox: forget them.
  w.ack = function (ackIds) {
    if (!ackIds || !ackIds.length) return;
    var done = {};
    ackIds.forEach(function (id) { done[id] = true; });
    w.queue = w.queue.filter(function (e) { return !done[e.id]; });
    persist();
  };

  // ---- serializers: read explicit fields only (wa-js 4.6.0 models; docs/sandbox.md) ----
  /** @param {any} x  a Wid, MsgKey, string or nothing @returns {string|null} */
  function str(x) {
    if (x === null || x === undefined) return null;
    if (typeof x === 'object' && x._serialized) return String(x._serialized);
    return String(x);
  }
  /** @param {string|null} id  a person's id without its device part (`:12`) */
  function bareId(id) { return id ? id.replace(/:\d+@/, '@') : id; }
  function isGroupId(id) { return typeof id === 'string' && id.slice(-5) === '@g.us'; }
  function isChannelId(id) { return typeof id === 'string' && id.slice(-11) === '@newsletter'; }
  var MEDIA = {image: 1, video: 1, audio: 1, ptt: 1, sticker: 1, document: 1};

  /** @param {ContactModel} c */
  function contactJSON(c) {
    if (!c) return null;
    var id = str(c.id);
    return {id: id, phone: id && id.slice(-5) === '@c.us' ? id.split('@')[0] : null,
            lid: id && id.slice(-4) === '@lid' ? id : null,
            name: c.name || null, shortName: c.shortName || null, pushname: c.pushname || null,
            isMyContact: c.isMyContact === true, isBusiness: c.isBusiness === true};
  }

  // The key of the message m replies to, or null. wa-js installs MsgModel.prototype.quotedMsgId
  // as a getter that throws message_not_have_a_reply on every message that is not a reply, so
  // the key is built from the fields that getter (getQuotedMsgKey) reads, by its rule. A value
  // wa-js put on the message itself (its MsgStore hook: the quoted message's own key) wins.
  /** @param {MsgModel|RawMessage} m @returns {string|null} */
  function quotedKey(m) {
    if (!m.quotedStanzaID) return null;
    var own = Object.getOwnPropertyDescriptor(m, 'quotedMsgId');
    if (own && own.value) return str(own.value);
    var remote = str(m.quotedRemoteJid) || str((m.id || {}).remote);
    var participant = str(m.quotedParticipant);
    var me = null;
    try { me = str(window.WPP.conn.getMyUserId()); } catch (e) { /* not logged in */ }
    var keep = isGroupId(str(m.from)) || isGroupId(str(m.to)) || remote === 'status@broadcast';
    return (!!me && me === participant) + '_' + remote + '_' + m.quotedStanzaID +
      (keep && participant ? '_' + participant : '');
  }

  /** @param {MsgModel|RawMessage} m */
  function msgJSON(m) {
    var key = /** @type {Partial<MsgKey>} */ (m.id || {});
    var type = m.type || 'chat';
    var body = MEDIA[type] ? (m.caption || '') : (type === 'location' ? (m.loc || '') : (m.body || ''));
    var poll = null;
    if (type === 'poll_creation') {
      body = m.pollName || '';
      poll = {name: m.pollName || '', selectableCount: m.pollSelectableOptionsCount || 0,
              options: (m.pollOptions || []).map(function (o) { return o && o.name; })};
    }
    var cards = null;
    if (type === 'vcard') cards = [{name: m.vcardFormattedName || null, vcard: m.body || ''}];
    if (type === 'multi_vcard') {
      cards = (m.vcardList || []).map(function (v) { return {name: v.displayName || null, vcard: v.vcard || ''}; });
    }
    return {
      poll: poll, contacts: cards,
      id: str(key), chatId: str(key.remote), fromMe: key.fromMe === true,
      from: str(m.from), to: str(m.to), author: str(m.author), type: type,
      subtype: m.subtype || null, body: body, caption: m.caption || null,
      timestamp: typeof m.t === 'number' ? m.t : null, ack: typeof m.ack === 'number' ? m.ack : 0,
      mimetype: m.mimetype || null, filename: m.filename || null, size: m.size || null,
      lat: m.lat === undefined ? null : m.lat, lng: m.lng === undefined ? null : m.lng,
      quotedId: quotedKey(m), mentions: (m.mentionedJidList || []).map(str),
      notifyName: m.notifyName || null, isGroupMsg: isGroupId(str(key.remote)),
      sender: m.senderObj ? contactJSON(m.senderObj) : null
    };
  }

  /** @param {GroupMetadataModel} meta */
  function participantsOf(meta) {
    var list = meta && meta.participants;
    if (!list) return [];
    var arr = typeof list.getModelsArray === 'function' ? list.getModelsArray() : list;
    return Array.prototype.map.call(arr, function (p) {
      return {id: str(p.id), isAdmin: p.isAdmin === true || p.isSuperAdmin === true,
              isSuperAdmin: p.isSuperAdmin === true};
    });
  }

  /** @param {ChatModel} c */
  function chatJSON(c) {
    var id = str(c.id);
    var meta = c.groupMetadata;
    return {id: id, name: c.name || c.formattedTitle || (meta && meta.subject) || null,
            isGroup: isGroupId(id), unreadCount: c.unreadCount || 0,
            timestamp: typeof c.t === 'number' ? c.t : null, archived: c.archive === true,
            pinned: !!c.pin, mutedUntil: muteOf(c) || null,
            labels: Array.prototype.map.call(c.labels || [], String)};
  }

  // ChatModel.mute (MuteModel, expiration in unix seconds; whatsapp/models/MuteModel.d.ts), or
  // its muteExpiration prop; an expiration already past is not muted.
  /** @param {ChatModel} c @returns {number} */
  function muteOf(c) {
    var e = c.mute && typeof c.mute.expiration === 'number' ? c.mute.expiration : c.muteExpiration;
    if (typeof e !== 'number' || e === 0) return 0;
    return e < 0 || e > Date.now() / 1000 ? e : 0;
  }

  /** @param {ChatModel} c */
  function groupJSON(c) {
    var meta = (c && c.groupMetadata) || /** @type {GroupMetadataModel} */ ({});
    return {id: str(c.id), name: meta.subject || c.name || null, owner: str(meta.owner),
            participants: participantsOf(meta), creation: meta.creation || null,
            description: meta.desc || null, announce: meta.announce === true,
            restrict: meta.restrict === true};
  }

  // ---- WPP discovery, listeners and injection ----
  /** @returns {WPPType|null} */
  function currentWPP() {
    if (window.WPP) return window.WPP;
    try { return typeof WPP !== 'undefined' ? WPP : null; } catch (e) { return null; }  // eslint-disable-line no-undef
  }

  /** @template {(...args: any[]) => void} F @param {F} fn @returns {F} */
  function safe(fn) {
    return /** @type {F} */ (function () {
      try { fn.apply(null, arguments); } catch (e) { push('bridge.error', {message: String(e)}); }
    });
  }

  // What chat.new_message brings that is not a chat message (wa-js 4.6.0 emits it for every
  // new MsgModel: chat/events/eventTypes.d.ts): dropped, documented in docs/webhooks.md.
  // gp2 (group notifications) and status@broadcast posts have events of their own.
  var NOTICE = {e2e_notification: 1, notification_template: 1, notification: 1, call_log: 1,
                protocol: 1, broadcast_notification: 1, group_notification: 1, revoked: 1};
  var STATUS_CHAT = 'status@broadcast';
  // What a person writes: the only types that arrive as `message`. WhatsApp adds types (newer
  // system notices, `unknown` for what this build cannot show); one outside both lists is
  // reported as message.unsupported (id, chat, sender, type), never as a customer message.
  var CONTENT = {chat: 1, image: 1, video: 1, ptv: 1, audio: 1, ptt: 1, sticker: 1, document: 1,
                 location: 1, vcard: 1, multi_vcard: 1, poll_creation: 1, list_response: 1,
                 buttons_response: 1, template_button_reply: 1, interactive_response: 1,
                 order: 1, product: 1};

  /** @param {MsgModel} m */
  function onMessage(m) {
    if (!m || !m.id) return;
    if (m.type === 'ciphertext') { watchCiphertext(m); return; }  // re-emitted once decrypted
    var json = msgJSON(m);
    if (w.seen.indexOf(json.id) !== -1) return;
    w.seen.push(json.id);
    if (w.seen.length > 2000) w.seen.splice(0, 1000);
    if (isChannelId(json.chatId)) {  // a channel's post: never a chat message
      if (!json.fromMe) push('channel.message', json);
    } else if (json.chatId === STATUS_CHAT) {
      if (!json.fromMe) push('status.posted', json);  // someone's status (story)
    } else if (json.type === 'gp2') {
      json.recipients = (m.recipients || []).map(str);
      push('group.notification', json);
    } else if (CONTENT[json.type]) {
      push(json.fromMe ? 'message.sent' : 'message', json, senderIds(currentWPP(), json));
      subscribePresence(json.chatId);
    } else if (!NOTICE[json.type] && !json.fromMe) {
      push('message.unsupported', unsupportedJSON(json));
    }
  }

  // wa-js re-emits a ciphertext model when it decrypts (its "change:type" listener); one that
  // is still ciphertext after CONFIG.undecryptableAfterMs is reported once, by its id.
  /** @param {MsgModel} m */
  function watchCiphertext(m) {
    var id = str(m.id);
    if (m.id.fromMe || w.watching[id]) return;
    w.watching[id] = true;
    setTimeout(safe(function () {
      delete w.watching[id];
      if (m.type === 'ciphertext') push('message.undecryptable', undecryptableJSON(m));
    }), CONFIG.undecryptableAfterMs || 60000);
  }

  // A message of a type the gateway does not pass on as `message`: what names it, no content.
  function unsupportedJSON(json) {
    return {id: json.id, chatId: json.chatId, from: json.from, author: json.author,
            type: json.type, subtype: json.subtype, timestamp: json.timestamp};
  }

  /** @param {MsgModel|RawMessage} m */
  function undecryptableJSON(m) {
    return {id: str(m.id), chatId: str(m.id.remote), from: str(m.from), author: str(m.author),
            timestamp: typeof m.t === 'number' ? m.t : null};
  }

  // wa-js subscribes the presence of the chats WhatsApp Web has at conn.main_ready only
  // (chat/events/registerPresenceChange): a chat that starts later would never send
  // chat.presence_change. Subscribe each person's chat once per document when it is active.
  w.presenceSubs = {};
  function subscribePresence(chatId) {
    var P = currentWPP();
    if (!chatId || chatId.slice(-5) !== '@c.us' || w.presenceSubs[chatId]) return;
    if (!P || !P.contact || typeof P.contact.subscribePresence !== 'function') return;
    w.presenceSubs[chatId] = true;
    Promise.resolve(P.contact.subscribePresence(chatId)).catch(function () {
      delete w.presenceSubs[chatId];  // try again with the chat's next message
    });
  }

  /** @param {WPPType} P */
  function attach(P) {
    if (w.attached || !P || typeof P.on !== 'function') return;
    w.attached = true;
    P.on('chat.new_message', safe(onMessage));
    P.on('chat.msg_ack_change', safe(function (e) {
      push('message.ack', {ack: e.ack, chatId: str(e.chat), sender: str(e.sender),
                           ids: (e.ids || []).map(str),
                           keyIds: (e.ids || []).map(function (k) { return k && k.id; })});
    }));
    P.on('chat.msg_revoke', safe(function (e) {
      push('message.revoked', {id: str(e.refId), revokeId: str(e.id), from: str(e.from),
                               to: str(e.to), author: str(e.author), type: e.type || null});
    }));
    P.on('chat.msg_edited', safe(function (e) {
      if (!e || !e.msg) return;
      var json = msgJSON(e.msg);
      // WhatsApp's Msg attribute (wa-js's editMessage sets it too), missing from MsgModel.d.ts
      var editedMs = /** @type {{latestEditSenderTimestampMs?: number}} */ (/** @type {unknown} */ (e.msg))
        .latestEditSenderTimestampMs;
      json.editedAt = editedMs ? Math.floor(editedMs / 1000) : null;
      push('message.edited', json, senderIds(currentWPP(), json));
    }));
    // selectedOptions: wa-js puts the option objects at their localId (a sparse array)
    P.on('chat.poll_response', safe(function (e) {
      var chosen = Array.prototype.filter.call(e.selectedOptions || [], function (o) {
        return o !== undefined && o !== null;
      });
      push('poll.vote', {messageId: str(e.msgId), chatId: str(e.chatId), voter: str(e.sender),
                         options: chosen.map(function (o) { return typeof o === 'object' ? o.name : o; }),
                         timestamp: e.timestamp || null});
    }));
    P.on('group.participant_changed', safe(function (e) {
      push('group.participants', {groupId: str(e.groupId), action: e.action,
                                  operation: e.operation || null,
                                  participants: (e.participants || []).map(str),
                                  author: str(e.author)});
    }));
    // call/events/eventTypes.d.ts: {id, isGroup, isVideo, offerTime, sender, peerJid}
    // The caller may come with a device part (`62…:12@c.us`) or as an @lid: `from` is the
    // person's chat id without the device (what a reply is sent to), with both ids beside it.
    P.on('call.incoming_call', safe(function (e) {
      var json = {id: str(e.id), from: bareId(str(e.sender) || str(e.peerJid)),
                  peerJid: str(e.peerJid), isVideo: e.isVideo === true, isGroup: e.isGroup === true,
                  offerTime: typeof e.offerTime === 'number' ? e.offerTime : null};
      push('call.received', json, senderIds(currentWPP(), json));
    }));
    // chat/events/eventTypes.d.ts 'chat.presence_change': {id, isOnline, isGroup, isUser,
    // shortName, state (composing|recording|available|unavailable), t (ms), participants?}
    P.on('chat.presence_change', safe(function (e) {
      push('presence.update', {id: str(e.id), isOnline: e.isOnline === true,
                               isGroup: e.isGroup === true, state: e.state || null,
                               shortName: e.shortName || null, t: e.t || Date.now(),
                               participants: (e.participants || []).map(function (p) {
                                 return {id: str(p.id), state: p.state || null};
                               })});
    }));
    P.on('conn.auth_code_change', safe(function (code) {
      w.authCode = code && code.fullCode ? code.fullCode : null;
    }));
    // The managed pairing-code flow (conn/functions/linkDeviceCodeLifecycle.d.ts): each new
    // code, and the end of the flow when WhatsApp stopped refreshing it.
    P.on('conn.link_code_change', safe(function (code) {
      w.linkCode = code ? String(code) : null;
      w.linkCodeExpired = false;
    }));
    P.on('conn.link_code_expired', safe(function () { w.linkCode = null; w.linkCodeExpired = true; }));
    P.on('conn.link_code_error', safe(function () { w.linkCode = null; w.linkCodeExpired = true; }));
    P.on('conn.logout_reason', safe(function (r) { w.logoutReason = String(r); }));
    P.on('conn.logout', safe(function () { push('conn.logout', {reason: w.logoutReason || null}); }));
    // Login state moved: the gateway polls once to derive its status (QR, CONNECTED, ...).
    ['conn.auth_code_change', 'conn.authenticated', 'conn.main_ready', 'conn.main_loaded',
     'conn.qrcode_idle', 'conn.require_auth', 'conn.logout', 'conn.stream_mode_changed',
     'conn.stream_info_changed', 'conn.needs_update', 'conn.link_code_change',
     'conn.link_code_expired', 'conn.link_code_error',
     'loader.ready', 'loader.full_ready'].forEach(function (/** @type {keyof import('@wppconnect/wa-js').ev.EventTypes} */ name) {
      P.on(name, function () { notify('state'); });
    });
  }

  var current;
  try {
    current = window.WPP;
    Object.defineProperty(window, 'WPP', {
      configurable: true, enumerable: true,
      get: function () { return current; },
      set: function (v) { current = v; attach(v); }
    });
  } catch (e) { /* a page that froze window.WPP: poll() attaches instead */ }

  function maybeInject() {
    if (!CONFIG.inject || w.injected || currentWPP() || typeof window.__waengineBundle !== 'function') return;
    w.injected = true;  // never twice into one document: a second copy double-fires events
    window.__waengineBundle();
  }
  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', maybeInject);
  } else {
    maybeInject();
  }

  // ---- the gateway's entry points ----
  // The queue's head up to the first event still waiting for its details.
  function handable(max) {
    var out = [];
    for (var i = 0; i < w.queue.length && out.length < max && !w.queue[i].pending; i++) {
      out.push(w.queue[i]);
    }
    return out;
  }

  // How long the oldest send of the gateway's queue has been in flight here (0: none): a send
  // waits for WhatsApp's server ack, so one that waits long is a socket that carries nothing
  // (engine/ladder.py, "connected but dead").
  // Every wa-js function the bridge calls (tests/unit/test_contract.py keeps the lists whole).
  // WhatsApp Web updates without notice, and a build the injected wa-js was not made for can
  // lack some: each is checked present and callable once per page load, before the session
  // reports ready, so it ends FAILED wa_update_required naming them instead of failing its
  // calls one by one. OPTIONAL: calls the bridge tests for first and does without.
  var USES = {
    blocklist: ['all', 'blockContact', 'unblockContact'],
    call: ['reject'],
    chat: ['archive', 'clear', 'delete', 'deleteMessage', 'downloadMedia', 'editMessage', 'find',
      'forwardMessage', 'generateMessageID', 'get', 'getMessageById', 'getMessages', 'list',
      'markIsComposing', 'markIsPaused', 'markIsRead', 'markIsRecording', 'mute', 'pin', 'pinMsg',
      'sendCreatePollMessage', 'sendFileMessage', 'sendLocationMessage', 'sendReactionToMessage',
      'sendTextMessage', 'sendVCardContactMessage', 'starMessage', 'unmute', 'getMessageACK'],
    community: ['addSubgroups', 'create', 'deactivate', 'demoteParticipants',
      'getAnnouncementGroup', 'getSubgroups', 'promoteParticipants', 'removeSubgroups'],
    conn: ['genLinkDeviceCodeForPhoneNumber', 'getAuthCode', 'getBuildConstants', 'getMyUserId',
      'isAuthenticated', 'logout', 'markAvailable', 'markUnavailable'],
    contact: ['get', 'getProfilePictureUrl', 'getStatus', 'list', 'queryExists'],
    group: ['addParticipants', 'create', 'demoteParticipants', 'getAllGroups',
      'getGroupInfoFromInviteCode', 'getInviteCode', 'iAmMember', 'join', 'leave',
      'promoteParticipants', 'removeParticipants', 'revokeInviteCode', 'setDescription',
      'setProperty', 'setSubject'],
    labels: ['addNewLabel', 'addOrRemoveLabels', 'getAllLabels', 'getLabelColorPalette'],
    newsletter: ['create', 'destroy', 'edit', 'follow', 'getSubscribers', 'unfollow'],
    profile: ['getMyProfileName', 'getMyProfilePicture', 'getMyStatus', 'isBusiness',
      'setMyProfileName', 'setMyProfilePicture', 'setMyStatus'],
    status: ['getMyStatus', 'remove', 'sendImageStatus', 'sendTextStatus', 'sendVideoStatus']
  };
  var OPTIONAL = {
    blocklist: ['isBlocked'],
    conn: ['getStreamData', 'isIdle', 'needsUpdate', 'setKeepAlive',
      'startLinkDeviceCodeForPhoneNumber'],
    contact: ['getPnLidEntry', 'subscribePresence'],
    group: ['GroupProperty']  // an enum object, read where it is used
  };
  /** @param {WPPType} P */
  function selfCheck(P) {
    var missing = [];
    var checked = 0;
    Object.keys(USES).forEach(function (ns) {
      USES[ns].forEach(function (name) {
        checked += 1;
        var space = /** @type {any} */ (P)[ns];
        if (!space || typeof space[name] !== 'function') missing.push(ns + '.' + name);
      });
    });
    var waVersion = null;
    try { waVersion = P.conn.getBuildConstants().VERSION_STR || null; } catch (e) { /* unknown */ }
    return {missing: missing, checked: checked, waVersion: waVersion};
  }

  function stalledMs() {
    var now = Date.now();
    var oldest = now;
    Object.keys(w.inflight).forEach(function (id) { oldest = Math.min(oldest, w.inflight[id]); });
    return now - oldest;
  }

  w.poll = async function (ackIds) {
    w.ack(ackIds);
    var P = currentWPP();
    var s = {doc: w.doc, url: location.href, wpp: !!P, injected: w.injected,
             version: (P && P.version) || null, ready: false, fullReady: false, auth: false,
             mode: null, info: null, needsUpdate: false, waVersion: null, checked: 0,
             missing: [], qr: null, idle: false,
             linkCode: null, linkCodeExpired: false, stalledMs: stalledMs(),
             me: null, events: handable(200)};
    if (!P) return s;
    attach(P);
    s.ready = P.isReady === true;
    s.fullReady = P.isFullReady === true;
    if (!s.fullReady) return s;
    if (!w.check) w.check = selfCheck(P);  // once per page load: the build does not change
    s.waVersion = w.check.waVersion;
    s.checked = w.check.checked;
    s.missing = w.check.missing;
    if (s.missing.length || !P.conn) return s;  // the gateway fails the session on a miss
    s.auth = P.conn.isAuthenticated() === true;
    var stream = P.conn.getStreamData ? P.conn.getStreamData() : null;
    s.mode = stream ? stream.mode : null;
    // StreamMode / StreamInfo names: whatsapp/enums/StreamMode.d.ts, StreamInfo.d.ts (4.6.0)
    s.info = stream && stream.info ? stream.info : null;
    s.needsUpdate = P.conn.needsUpdate ? P.conn.needsUpdate() === true : false;
    s.idle = P.conn.isIdle ? P.conn.isIdle() === true : false;
    if (!s.auth) {
      w.me = null;
      var code = s.idle ? null : await P.conn.getAuthCode();
      s.qr = code && code.fullCode ? code.fullCode : null;
      s.linkCode = w.linkCode || null;
      s.linkCodeExpired = w.linkCodeExpired === true;
      return s;
    }
    if (!w.me) w.me = await whoAmI(P);
    s.me = w.me;
    if (!w.keepAlive && P.conn.setKeepAlive) { w.keepAlive = P.conn.setKeepAlive(true) !== false; }
    return s;
  };

  /** @param {WPPType} P */
  async function whoAmI(P) {
    var id = str(P.conn.getMyUserId());
    if (!id) return null;
    var name = null;
    try { name = P.profile && P.profile.getMyProfileName ? P.profile.getMyProfileName() : null; } catch (e) {}
    if (!name) {
      try { var c = await P.contact.get(id); name = c ? (c.pushname || c.name || null) : null; } catch (e) {}
    }
    return {id: id, name: name || null};
  }

  var SEND = {markIsRead: false, linkPreview: false, waitForAck: true};

  // A send resolves (never rejects) when WhatsApp refuses it: sendMsgResult.messageSendResult
  // is ERROR_NETWORK, ERROR_UNKNOWN, ... and ack may be -1 (chat/types.d.ts SendMessageReturn,
  // whatsapp/enums/SendMsgResult.d.ts). Such a send is an error named by that result; the
  // gateway decides whether to try it again. The message is read back from the chat: a send
  // that WhatsApp took is there (no invented stand-in).
  /** @param {WPPType} P @param {SendMessageReturn} result */
  async function sent(P, result) {
    // already resolved in 4.6.0 (chat/types.d.ts); awaiting it keeps working
    var r = await (result && result.sendMsgResult);
    var outcome = r && typeof r === 'object' ? r.messageSendResult : r;
    if ((outcome && outcome !== 'OK') || (result && typeof result.ack === 'number' && result.ack < 0)) {
      var name = outcome && outcome !== 'OK' ? String(outcome) : 'ERROR_UNKNOWN';
      throw {code: 'send_' + name.toLowerCase(),
             message: 'WhatsApp did not take the message (' + name + ', ack ' + (result && result.ack) + ')',
             details: refusal(r)};
    }
    // WhatsApp took it: its model is in the chat (a moment later at worst). Failing to read it
    // back must not turn a sent message into a failed send.
    for (var i = 0; i < 3; i++) {
      try { return await withIds(P, msgJSON(await P.chat.getMessageById(result.id))); } catch (e) {}
      await new Promise(function (done) { setTimeout(done, 200 * (i + 1)); });
    }
    var key = str(result.id);
    return {id: key, chatId: str(result.to) || key.split('_')[1], fromMe: true,
            from: str(result.from), to: str(result.to), type: null, body: '',
            timestamp: Math.floor(Date.now() / 1000), ack: typeof result.ack === 'number' ? result.ack : 1};
  }

  // What a refused send's result says beyond its SendMsgResult: the server's nack code (463: a
  // reach-out timelock) and WhatsApp's timelock notice (enforcementType, isActive,
  // timeEnforcementEnds). wa-js 4.6.0 declares neither (its result is the SendMsgResult alone),
  // so both are read only when present; the sandbox page gives them (sandbox/network/reachout.py).
  /** @param {any} r @returns {{nack?: number, timelockEnds?: number}} */
  function refusal(r) {
    var out = {};
    if (!r || typeof r !== 'object') return out;
    if (typeof r.nack === 'number') out.nack = r.nack;
    var lock = r.reachoutTimelock;
    if (lock && lock.isActive && typeof lock.timeEnforcementEnds === 'number') out.timelockEnds = lock.timeEnforcementEnds;
    return out;
  }

  // contact.queryExists answers null both for "not on WhatsApp" and for any failed query (and
  // keeps that miss for 15 s: contact/functions/queryWidExists, module 94349). On a null, ask
  // WhatsApp's own lookup (whatsapp/functions/sendQueryExists.d.ts), which rejects when the
  // query fails: only its null is a "no". A lookup that keeps failing is whatsapp_unavailable.
  var LOOKUP_TRIES = 3;
  /** @param {WPPType} P @param {string} id */
  async function lookUp(P, id) {
    var r = await P.contact.queryExists(id);
    if (r) return r;
    var direct = P.whatsapp && P.whatsapp.functions && P.whatsapp.functions.queryWidExists;
    if (typeof direct !== 'function') return null;
    var wid = P.whatsapp.WidFactory.createWid(id);
    var last = null;
    for (var i = 0; i < LOOKUP_TRIES; i++) {
      if (i) await new Promise(function (done) { setTimeout(done, 500 * i); });
      try {
        return (await direct(wid)) || null;
      } catch (e) { last = e; }
    }
    throw {code: 'whatsapp_unavailable',
           message: 'WhatsApp did not answer the number lookup (' + String((last && (last.code || last.message)) || last) + ')'};
  }

  // Sends never reject unknown numbers (wa-js creates the chat): ask WhatsApp first, once per
  // recipient and document. A chat the page already has is a recipient it has talked to.
  var known = {};
  /** @param {WPPType} P @param {string} to @returns {Promise<string>} */
  async function recipient(P, to) {
    if (to.slice(-5) === '@g.us') {
      if (!P.chat.get(to)) throw {code: 'unknown_group', message: to + ' is not a group of this account'};
      return to;
    }
    if (to.slice(-5) !== '@c.us') return to;
    // WhatsApp refuses to deliver to a contact the account blocked: say so before queueing
    if (P.blocklist && typeof P.blocklist.isBlocked === 'function' && P.blocklist.isBlocked(to)) {
      throw {code: 'recipient_blocked', message: to + ' is blocked: unblock it to send'};
    }
    if (known[to]) return known[to];
    var chat = null;
    try { chat = P.chat.get(to); } catch (e) { /* invalid_wid: queryExists says so below */ }
    if (chat) { known[to] = to; return to; }
    // chat.get is exact and WhatsApp keeps many 1:1 chats under the person's @lid: send there,
    // or the message opens a second chat with the same person
    var lid = (await idsOf(P, to)).lid;
    if (lid && P.chat.get(lid)) { known[to] = lid; return lid; }
    var r = await lookUp(P, to);
    if (!r) throw {code: 'recipient_not_on_whatsapp', message: to + ' is not on WhatsApp'};
    known[to] = str(r.wid) || to;
    return known[to];
  }

  // The chat a send lands in: WhatsApp's chat.find (findOrCreateLatestChat) answers the
  // person's @lid chat for a phone id once WhatsApp moved them, and a send whose messageId
  // names another chat fails (message_key_remote_id_is_not_same_of_chat: wa-js module 97829's
  // sendRawMessage). Asked at every send, never cached: the person's chat can move any time.
  /** @param {WPPType} P @param {string} to @returns {Promise<string>} */
  async function sendChat(P, to) {
    if (!isPerson(to)) return to;
    var chat = await P.chat.find(to);
    return (chat && str(chat.id)) || to;
  }

  // A send's chat and pre-assigned key: an id assigned before the person's chat moved keeps
  // its random part, in the chat the send really goes to (findSent looks in both).
  /** @param {WPPType} P @param {{to: string, messageId?: string}} a */
  async function target(P, a) {
    var to = await sendChat(P, await recipient(P, a.to));
    var key = a.messageId ? String(a.messageId).split('_') : null;
    if (key && key.length === 3 && key[1] !== to) key[1] = to;
    return {to: to, messageId: key ? key.join('_') : null};
  }

  /** @param {WPPType} P @param {string[]} ids */
  async function recipients(P, ids) {
    var out = [];
    for (var i = 0; i < (ids || []).length; i++) out.push(await recipient(P, ids[i]));
    return out;
  }

  // mentionedList goes to WhatsApp unchanged (wa-js module 19211): a LID-addressed group
  // (groupMetadata.isLidAddressingMode) knows its members by @lid only.
  /** @param {WPPType} P @param {string} to @param {string[]} ids */
  async function mentionIds(P, to, ids) {
    var chat = to.slice(-5) === '@g.us' ? P.chat.get(to) : null;
    var lidMode = !!(chat && chat.groupMetadata && chat.groupMetadata.isLidAddressingMode);
    var out = [];
    for (var i = 0; i < ids.length; i++) {
      var lid = lidMode && ids[i].slice(-5) === '@c.us' ? (await idsOf(P, ids[i])).lid : null;
      out.push(lid || await recipient(P, ids[i]));
    }
    return out;
  }

  /** @param {WPPType} P @param {string} id */
  async function quoted(P, id) {
    try {
      await P.chat.getMessageById(id);
    } catch (e) {
      throw {code: 'invalid_quoted_msg', message: 'replyTo: no message ' + id};
    }
    return id;
  }

  /** @param {WPPType} P @param {string} id @param {object} [results] */
  function groupOf(P, id, results) {
    var chat = P.chat.get(id);
    var out = chat ? groupJSON(chat) : {id: id, name: null, owner: null, participants: []};
    if (results) out.results = results;
    return out;
  }

  // Per-participant outcome of group.create / addParticipants as {wid: {code, message}}.
  function participantResults(raw) {
    var out = {};
    Object.keys(raw || {}).forEach(function (wid) {
      var r = raw[wid] || {};
      out[wid] = {code: typeof r.code === 'number' ? r.code : Number(r.code) || null,
                  message: r.message || null};
    });
    return out;
  }

  function byTime(a, b) { return (a.timestamp || 0) - (b.timestamp || 0); }

  // The chats active since `since` (unix s), newest first. chat.list loads each group's
  // metadata one by one unless told not to (wa-js chat/functions/list: GroupMetadataStore.find
  // per group), which on an account with hundreds of groups outlasts any command: never here.
  // ChatStore keeps chats newest first after the pinned ones, so paging stops at the first
  // unpinned chat older than `since`.
  var CHAT_PAGE = 50;
  /** @param {WPPType} P @param {number} since @returns {Promise<ChatModel[]>} */
  async function recentChats(P, since) {
    var out = [];
    var last = null;
    for (;;) {
      /** @type {import('@wppconnect/wa-js').chat.ChatListOptions} */
      var opts = {count: CHAT_PAGE, ignoreGroupMetadata: true};
      if (last) { opts.id = last; opts.direction = 'after'; }
      var page = await P.chat.list(opts);
      for (var i = 0; i < page.length; i++) {
        var c = page[i];
        if (c && !c.pin && typeof c.t === 'number' && c.t < since) return out;
        if (c) out.push(c);
      }
      if (page.length < CHAT_PAGE || !page[page.length - 1]) return out;
      last = page[page.length - 1].id;
    }
  }

  /** @param {WPPType} P @param {string} id */
  function existingChat(P, id) {
    var chat = null;
    try { chat = P.chat.get(id); } catch (e) { /* invalid_wid: not found either */ }
    if (!chat) throw {code: 'chat_not_found', message: 'No chat ' + id + ' in this account'};
    return chat;
  }

  // labels/functions/*: assertIsBusiness is Conn.isSMB, as profile.isBusiness() reads it
  /** @param {WPPType} P */
  function businessOnly(P) {
    if (!(P.profile && typeof P.profile.isBusiness === 'function' && P.profile.isBusiness())) {
      throw {code: 'is_not_business', message: 'Labels need a WhatsApp Business account'};
    }
  }

  // labels/types.d.ts Label {id, name, color, count, hexColor, colorIndex}
  /** @param {import('@wppconnect/wa-js').labels.Label} l */
  function labelJSON(l) {
    return {id: String(l.id), name: l.name || '', color: l.hexColor || null,
            colorIndex: typeof l.colorIndex === 'number' ? l.colorIndex : null, count: l.count || 0};
  }

  // Downloads the gateway opened and did not close (a client that went away): dropped when idle.
  var MEDIA_IDLE_MS = 120000;
  function pruneMedia() {
    var now = Date.now();
    Object.keys(w.media).forEach(function (h) {
      if (now - w.media[h].at > MEDIA_IDLE_MS) delete w.media[h];
    });
  }
  function tooLarge(size, max) {
    return {code: 'media_too_large', message: 'The file is ' + size + ' bytes, more than ' + max};
  }
  function readBase64(blob) {
    return new Promise(function (resolve, reject) {
      var reader = new FileReader();
      reader.onload = function () { var r = String(reader.result); resolve(r.slice(r.indexOf(',') + 1)); };
      reader.onerror = function () { reject({code: 'media_read_failed', message: String(reader.error)}); };
      reader.readAsDataURL(blob);
    });
  }

  // ---- channels (wa-js 4.6.0 dist/newsletter/functions/*.d.ts; a channel is a chat
  // <digits>@newsletter in WhatsApp's NewsletterStore, which chat.get and
  // chat.list({onlyNewsletter: true}) read). ChatModel.newsletterMetadata is typed any in
  // 4.6.0: WhatsApp's NewsletterMetadataModel, read field by field with its membership checks.
  /** @param {ChatModel} c */
  function channelJSON(c) {
    var meta = c.newsletterMetadata || {};
    var code = meta.inviteCode || null;
    return {id: str(c.id), name: meta.name || c.name || null, description: meta.description || null,
            role: meta.membershipType || null, followers: typeof meta.subscribersCount === 'number' ? meta.subscribersCount : null,
            inviteCode: code, inviteLink: code ? 'https://whatsapp.com/channel/' + code : null,
            createdAt: typeof meta.creationTime === 'number' ? meta.creationTime : null,
            mutedUntil: muteOf(c) || null};
  }

  /** @param {WPPType} P @param {string} id @returns {ChatModel} */
  function channelChat(P, id) {
    var chat = null;
    try { chat = P.chat.get(id); } catch (e) { /* invalid_wid: not found either */ }
    if (!chat || !chat.isNewsletter) {
      throw {code: 'channel_not_found', message: 'The account neither owns nor follows ' + id};
    }
    return chat;
  }

  // Only the owner and the channel's admins post, edit and list followers (WhatsApp refuses
  // anyone else): said before WhatsApp is asked.
  /** @param {WPPType} P @param {string} id @param {boolean} [owner] */
  function adminChannel(P, id, owner) {
    var chat = channelChat(P, id);
    var meta = chat.newsletterMetadata;
    var ok = meta && (owner ? meta.iAmOwner() : meta.iAmAdminOrOwner());
    if (!ok) {
      throw owner ? {code: 'not_channel_owner', message: 'Only the owner of ' + id + ' may delete it'}
        : {code: 'not_channel_admin', message: 'Only the owner and admins of ' + id + ' may do this'};
    }
    return chat;
  }

  // ---- status posts (wa-js 4.6.0 dist/status/functions/*.d.ts): the account's own stories.
  // A status is up 24 h; who viewed it is its receipts (chat/functions/getMessageACK.d.ts).
  var STATUS_TTL = 24 * 3600;
  /** @param {WPPType} P @param {MsgModel} m */
  async function statusJSON(P, m) {
    var json = msgJSON(m);
    var color = typeof m.backgroundColor === 'number' ? m.backgroundColor : null;
    var out = {id: json.id, type: json.type, text: json.type === 'chat' ? json.body : null,
               caption: json.caption, mimetype: json.mimetype, timestamp: json.timestamp,
               expiresAt: json.timestamp ? json.timestamp + STATUS_TTL : null,
               font: typeof m.font === 'number' ? m.font : null,
               // ARGB as WhatsApp stores it, as #RRGGBB
               backgroundColor: color === null ? null : '#' + ('000000' + (color & 0xFFFFFF).toString(16)).slice(-6).toUpperCase(),
               viewers: []};
    try {
      var ack = await P.chat.getMessageACK(json.id);
      out.viewers = ack.participants.filter(function (p) { return !!p.readAt; }).map(function (p) {
        return {id: str(p.wid), viewedAt: p.readAt};
      });
    } catch (e) { /* no receipts yet */ }
    return out;
  }

  // ---- communities (wa-js 4.6.0 dist/community/functions/*.d.ts): a parent group
  // (groupMetadata.groupType COMMUNITY) with an announcement group and linked groups.
  /** @param {WPPType} P @param {string} id @returns {ChatModel} */
  function communityChat(P, id) {
    var chat = null;
    try { chat = P.chat.get(id); } catch (e) { /* invalid_wid */ }
    if (!chat || !chat.groupMetadata || chat.groupMetadata.groupType !== 'COMMUNITY') {
      throw {code: 'community_not_found', message: 'The account is in no community ' + id};
    }
    return chat;
  }

  /** @param {WPPType} P @param {ChatModel} chat */
  function communityJSON(P, chat) {
    var id = str(chat.id);
    var announce = str(P.community.getAnnouncementGroup(id)) || null;
    var groups = [];
    try {
      groups = P.community.getSubgroups(id).map(str).filter(function (g) { return g !== announce; });
    } catch (e) { /* group_not_exist: no linked groups known yet */ }
    var meta = chat.groupMetadata;
    return {id: id, name: meta.subject || chat.name || null, description: meta.desc || null,
            announcementGroup: announce, groups: groups, participants: participantsOf(meta)};
  }

  /** @type {Record<string, (P: WPPType, a: any) => Promise<any>>} */
  var ops = {
    // "typing…" before a paced send; a chat that does not exist yet has nobody to show it to.
    typing: async function (P, a) {
      try { await P.chat.markIsComposing(a.to, a.ms); } catch (e) {
        if (!e || e.code !== 'chat_not_found') throw e;
      }
      return null;
    },
    sendText: async function (P, a) {
      var t = await target(P, a);
      var to = t.to;
      var opts = Object.assign({}, SEND);
      if (t.messageId) opts.messageId = t.messageId;
      if (a.replyTo) opts.quotedMsg = await quoted(P, a.replyTo);
      if (a.mentions && a.mentions.length) opts.mentionedList = await mentionIds(P, to, a.mentions);
      return sent(P, await P.chat.sendTextMessage(to, a.text, opts));
    },
    // a.data is a data: URL (the gateway checked type and size); a.kind image|video|audio|document
    sendFile: async function (P, a) {
      var t = await target(P, a);
      var to = t.to;
      // kind ptt: a voice note, sent as audio with isPtt; kind sticker: a WebP sticker
      var opts = Object.assign({}, SEND, {type: a.kind === 'ptt' ? 'audio' : (a.kind || 'auto-detect'),
                                          filename: a.filename, mimetype: a.mimetype});
      if (a.kind === 'ptt') opts.isPtt = true;
      if (t.messageId) opts.messageId = t.messageId;
      if (a.caption) opts.caption = a.caption;
      return sent(P, await P.chat.sendFileMessage(to, a.data, opts));
    },
    sendLocation: async function (P, a) {
      var t = await target(P, a);
      var to = t.to;
      var opts = Object.assign({}, SEND, {lat: a.latitude, lng: a.longitude});
      if (t.messageId) opts.messageId = t.messageId;
      if (a.name) opts.name = a.name;
      if (a.address) opts.address = a.address;
      return sent(P, await P.chat.sendLocationMessage(to, opts));
    },
    // a.contacts: [{id, name}] (id a WhatsApp user id): one card, or a multi_vcard for several
    sendContact: async function (P, a) {
      var t = await target(P, a);
      var to = t.to;
      var cards = a.contacts.map(function (c) { return c.name ? {id: c.id, name: c.name} : c.id; });
      var opts = Object.assign({}, SEND);
      if (t.messageId) opts.messageId = t.messageId;  // SendMessageOptions (chat/types.d.ts)
      return sent(P, await P.chat.sendVCardContactMessage(to, cards.length === 1 ? cards[0] : cards,
                                                          opts));
    },
    sendPoll: async function (P, a) {
      var t = await target(P, a);
      var to = t.to;
      var opts = Object.assign({}, SEND, {selectableCount: a.selectableCount || 0});
      if (t.messageId) opts.messageId = t.messageId;
      return sent(P, await P.chat.sendCreatePollMessage(to, a.name, a.options, opts));
    },
    react: async function (P, a) {
      var r = await P.chat.sendReactionToMessage(a.id, a.emoji || false);
      // WhatsApp's sendReactionToMsg: a SendMsgResult name, or {messageSendResult} on some builds
      /** @type {any} */
      var result = r && r.sendMsgResult;
      result = result && typeof result === 'object' ? result.messageSendResult : result;
      if (result && result !== 'OK') throw {code: 'reaction_failed', message: 'WhatsApp answered ' + result};
      return {messageId: a.id, emoji: a.emoji || '', result: result || 'OK'};
    },
    // Delete for me, or for everyone (revoke): wa-js silently falls back to "for me" on a
    // message that is not ours, so that case is refused before anything is deleted.
    deleteMessage: async function (P, a) {
      var m = await P.chat.getMessageById(a.id);
      if (a.forEveryone && !(m.id && m.id.fromMe)) {
        throw {code: 'not_own_message', message: 'Only your own messages can be deleted for everyone'};
      }
      var r = await P.chat.deleteMessage(str(m.id.remote), a.id, false, a.forEveryone === true);
      r = Array.isArray(r) ? r[0] : r;
      if (a.forEveryone && !(r && r.isRevoked)) {
        throw {code: 'revoke_failed', message: 'WhatsApp answered ' + (r && r.sendMsgResult)};
      }
      return {id: a.id, revoked: !!(r && r.isRevoked), deleted: !!(r && (r.isDeleted || r.isRevoked))};
    },
    editMessage: async function (P, a) {
      var m = await P.chat.getMessageById(a.id);
      if (!(m.id && m.id.fromMe)) {
        throw {code: 'not_own_message', message: 'Only your own messages can be edited'};
      }
      try {
        // an edit is sent like a message: without markIsRead: false it marks the chat read
        await P.chat.editMessage(a.id, a.text, {linkPreview: false, markIsRead: false});
      } catch (e) {
        if (e && e.code === 'edit_message_error') {
          throw {code: 'message_not_editable',
                 message: 'WhatsApp allows editing your own texts for 15 minutes only'};
        }
        throw e;
      }
      var json = await withIds(P, msgJSON(await P.chat.getMessageById(a.id)));
      json.body = a.text.trim();  // the model may update after the edit's own ack
      return json;
    },
    forwardMessage: async function (P, a) {
      var to = await recipient(P, a.to);
      await P.chat.getMessageById(a.id);  // msg_not_found before anything is sent
      // Deprecated in wa-js 4.6.0: it answers what WhatsApp's forwardMessagesToChats does (no
      // boolean), and throws when this WhatsApp Web build has no such function.
      try {
        await P.chat.forwardMessage(to, a.id);
      } catch (e) {
        if (e && e.code === 'forward_messages_to_chats_not_available') {
          throw {code: 'forward_unavailable', message: 'This WhatsApp Web build cannot forward ' +
                 '(forwardMessagesToChats is missing): it needs a newer wa-js'};
        }
        throw e;
      }
      return {id: a.id, to: to, forwarded: true};
    },
    starMessage: async function (P, a) {
      await P.chat.starMessage(a.id, a.star);  // answers the state before: not returned
      return {id: a.id, star: a.star};
    },
    // duration: a wa-js PinExpiryDurationOption name (OneDay, SevenDays, ThirtyDays)
    pinMessage: async function (P, a) {
      try {
        await P.chat.pinMsg(a.id, a.pin, a.pin ? a.duration : undefined);
      } catch (e) {
        if (e && (e.code === 'pin_error' || e.code === 'unpin_error')) {
          throw {code: 'message_not_pinnable', message: e.message || String(e.code)};
        }
        throw e;
      }
      return {id: a.id, pinned: a.pin, duration: a.pin ? a.duration : null};
    },
    listChats: async function (P) {
      var chats = await P.chat.list({ignoreGroupMetadata: true});
      return chats.filter(Boolean).map(chatJSON);
    },
    getMessages: async function (P, a) {
      var msgs = await P.chat.getMessages(a.chatId, {count: a.limit});
      var out = msgs.map(msgJSON).sort(byTime).slice(-a.limit);
      for (var i = 0; i < out.length; i++) await withIds(P, out[i]);
      return out;
    },
    markRead: async function (P, a) {
      var r = await P.chat.markIsRead(a.chatId);
      return {chatId: str(r && r.wid) || a.chatId, unreadCount: (r && r.unreadCount) || 0};
    },
    listContacts: async function (P) {
      var contacts = await P.contact.list();
      var out = [];
      for (var i = 0; i < contacts.length; i++) {
        var id = str(contacts[i] && contacts[i].id);
        // ContactStore also holds groups, broadcasts and channels: people only
        if (id && (id.slice(-5) === '@c.us' || id.slice(-4) === '@lid')) out.push(contactJSON(contacts[i]));
      }
      // an @lid contact's phone number comes from WhatsApp's local map (no server query), and a
      // phone contact's @lid from the pairs this page already knows
      for (var j = 0; j < out.length; j++) {
        var pair = out[j].lid ? await idsOf(P, out[j].id) : pairCached(out[j].id);
        if (pair) bothIds(out[j], pair);
      }
      return out;
    },
    getContact: async function (P, a) {
      var c = await P.contact.get(a.id);
      if (c) return bothIds(contactJSON(c), await idsOf(P, a.id));
      // lookUp, not queryExists alone: a lookup that failed is whatsapp_unavailable (unknown),
      // never "not on WhatsApp"
      var r = a.id.slice(-5) === '@c.us' ? await lookUp(P, a.id) : null;
      if (!r) throw {code: 'contact_not_found', message: 'No contact ' + a.id};
      var id = str(r.wid);  // on WhatsApp, not in this account's contacts
      return {id: id, phone: id.split('@')[0], lid: 'lid' in r ? str(r.lid) : null, name: null, shortName: null,
              pushname: null, isMyContact: false, isBusiness: r.biz === true};
    },
    groups: async function (P) {
      var groups = await P.group.getAllGroups();
      return groups.filter(Boolean).map(groupJSON);
    },
    createGroup: async function (P, a) {
      var participants = await recipients(P, a.participants);
      var r = await P.group.create(a.name, participants, undefined);  // no parent community
      return groupOf(P, str(r.gid), participantResults(r.participants));
    },
    changeParticipants: async function (P, a) {
      var results = null;
      if (a.add && a.add.length) {
        results = participantResults(await P.group.addParticipants(a.groupId, await recipients(P, a.add)));
      }
      if (a.remove && a.remove.length) await P.group.removeParticipants(a.groupId, a.remove);
      return groupOf(P, a.groupId, results);
    },
    // A media file in three steps, so a multi-MB file never travels as one WebDriver string and
    // the session's other commands run between chunks: open (download into a page-side map),
    // read base64 chunks by offset, close.
    mediaOpen: async function (P, a) {
      var m = await P.chat.getMessageById(a.id);
      if (!m || !MEDIA[m.type]) throw {code: 'message_not_contains_media', message: 'Message ' + a.id + ' has no media'};
      if (a.maxBytes && m.size > a.maxBytes) throw tooLarge(m.size, a.maxBytes);
      var blob = await P.chat.downloadMedia(a.id);
      if (a.maxBytes && blob.size > a.maxBytes) throw tooLarge(blob.size, a.maxBytes);
      pruneMedia();
      w.mediaSeq += 1;
      var handle = w.doc + ':' + w.mediaSeq;
      w.media[handle] = {blob: blob, at: Date.now()};
      return {handle: handle, size: blob.size, mimetype: m.mimetype || blob.type || null,
              filename: m.filename || null, type: m.type};
    },
    mediaRead: async function (P, a) {
      var entry = w.media[a.handle];
      if (!entry) throw {code: 'media_handle_gone', message: 'The download is gone (page reloaded or idle)'};
      entry.at = Date.now();
      return await readBase64(entry.blob.slice(a.offset, a.offset + a.length));
    },
    mediaClose: async function (P, a) { delete w.media[a.handle]; return null; },
    logout: async function (P) { return await P.conn.logout(); },
    // "Use here": WhatsApp is open for this account in another window (stream mode CONFLICT).
    // WPP.whatsapp.Socket is the SocketModel (whatsapp/misc/Socket.d.ts, models/SocketModel.d.ts).
    takeover: async function (P) {
      var socket = P.whatsapp && P.whatsapp.Socket;
      if (!socket || typeof socket.takeover !== 'function') {
        throw {code: 'takeover_unavailable', message: 'WPP.whatsapp.Socket.takeover is missing'};
      }
      await socket.takeover();
      return null;
    },
    // The alternative to the QR: the phone types this code under "Link with phone number".
    // The managed flow when the bundle has it (wa-js >= 4.6.0): the code refreshes as WhatsApp
    // expires it, reported through conn.link_code_change (poll: linkCode).
    pairingCode: async function (P, a) {
      if (typeof P.conn.startLinkDeviceCodeForPhoneNumber === 'function') {
        var code = String(await P.conn.startLinkDeviceCodeForPhoneNumber(a.phone, true));
        w.linkCode = code;
        w.linkCodeExpired = false;
        return code;
      }
      return String(await P.conn.genLinkDeviceCodeForPhoneNumber(a.phone, true));
    },
    // Messages the page may have received while the gateway was not draining it (a crash, a
    // restart): every chat active since a.since, its newest a.perChat incoming messages.
    catchUp: async function (P, a) {
      var chats = await recentChats(P, a.since);
      var out = [];
      for (var i = 0; i < chats.length; i++) {
        var c = chats[i];
        var id = c && str(c.id);
        if (!id || id === 'status@broadcast' || (typeof c.t === 'number' && c.t < a.since)) continue;
        var msgs = await P.chat.getMessages(id, {count: a.perChat});
        for (var j = 0; j < msgs.length; j++) {
          var m = msgs[j];
          if (!m || !m.id || (m.t || 0) < a.since) continue;
          if (!CONTENT[m.type || 'chat'] && m.type !== 'ciphertext') continue;  // as onMessage
          if (m.type === 'ciphertext') {  // still not decrypted: past the wait, undecryptable
            if (!m.id.fromMe && a.undecryptableBefore && (m.t || 0) < a.undecryptableBefore) {
              var u = undecryptableJSON(m);
              u.undecryptable = true;
              out.push(u);
            }
            continue;
          }
          var json = msgJSON(m);
          if (!json.fromMe) out.push(await withIds(P, json));
        }
      }
      return out.sort(byTime);
    },
    // Whether the account already talks with this person: a chat with a message under the phone
    // id or the person's @lid. WhatsApp counts a first message to anyone else as a reach-out
    // (engine/reachout.py); local state only, no server query (a lookup counts against the
    // account's lookup rate).
    chatKnown: async function (P, a) {
      if (!isPerson(a.to)) return {known: true};
      var ids = [a.to];
      var pair = await idsOf(P, a.to);
      [pair.phone, pair.lid].forEach(function (id) { if (id && ids.indexOf(id) < 0) ids.push(id); });
      for (var i = 0; i < ids.length; i++) {
        var chat = null;
        try { chat = P.chat.get(ids[i]); } catch (e) { /* invalid_wid: no chat */ }
        if (chat && typeof chat.t === 'number' && chat.t > 0) return {known: true, chatId: ids[i]};
      }
      return {known: false};
    },
    // The id a send will carry, chosen before it is attempted: after a crash mid-send the
    // gateway looks for it in the chat instead of sending blind a second time.
    newMessageId: async function (P, a) {
      var to = await sendChat(P, await recipient(P, a.to));
      return str(await P.chat.generateMessageID(to));
    },
    // A send of ours by its pre-assigned id: null when WhatsApp never got it, {id, pending}
    // while its call still runs here or WhatsApp holds it unsent (ack 0). getMessageById is
    // an exact key lookup, and a person's chat may have moved between phone id and @lid since
    // the id was assigned (target): the same random id in the other chat is the same send.
    findSent: async function (P, a) {
      var keys = [a.id];
      var parts = String(a.id).split('_');
      if (parts.length === 3 && isPerson(parts[1])) {
        var pair = await idsOf(P, parts[1]);
        var other = parts[1] === pair.lid ? pair.phone : pair.lid;
        if (other) keys.push([parts[0], other, parts[2]].join('_'));
      }
      if (w.inflight[a.id]) return {id: a.id, pending: true};  // its send still runs in this page
      for (var i = 0; i < keys.length; i++) {
        var m = null;
        try { m = await P.chat.getMessageById(keys[i]); } catch (e) { continue; }  // msg_/chat_not_found
        if (!m || (typeof m.ack === 'number' && m.ack < 0)) continue;  // refused (ack ERROR): not sent
        // in the page with the clock icon: WhatsApp sends it when its socket is back
        if (m.ack === 0) return {id: str(m.id), pending: true};
        return withIds(P, msgJSON(m));
      }
      return null;
    },
    // call/functions/reject.d.ts: reject(callId) resolves true, or throws call_not_found /
    // call_is_not_incoming_ring (it stopped ringing).
    rejectCall: async function (P, a) {
      return {id: a.id, rejected: (await P.call.reject(a.id)) === true};
    },
    // ---- chat state and presence (dist/chat/functions/{archive,pin,mute,unmute,clear,delete,
    // markIsComposing,markIsRecording,markIsPaused}.d.ts, conn/functions/markAvailable.d.ts,
    // labels/functions/{getAllLabels,addNewLabel,addOrRemoveLabels}.d.ts) ----
    chatPresence: async function (P, a) {
      existingChat(P, a.chatId);
      if (a.state === 'typing') await P.chat.markIsComposing(a.chatId);
      else if (a.state === 'recording') await P.chat.markIsRecording(a.chatId);
      else await P.chat.markIsPaused(a.chatId);
      return {chatId: a.chatId, state: a.state};
    },
    setAvailable: async function (P, a) {
      if (a.available) await P.conn.markAvailable(); else await P.conn.markUnavailable();
      return {available: a.available === true};
    },
    // archive and pin throw <verb>_error when the chat is already so: asking twice is fine here.
    archiveChat: async function (P, a) {
      if (!!existingChat(P, a.chatId).archive !== a.archive) await P.chat.archive(a.chatId, a.archive);
      return chatJSON(existingChat(P, a.chatId));
    },
    pinChat: async function (P, a) {
      if (!!existingChat(P, a.chatId).pin !== a.pin) {
        // WhatsApp pins at most 3 chats; say so before asking it
        var pinned = (await P.chat.list({ignoreGroupMetadata: true})).filter(function (c) {
          return c && c.pin;
        });
        if (a.pin && pinned.length >= 3) {
          throw {code: 'chat_pin_limit', message: 'WhatsApp pins at most 3 chats: ' +
                 pinned.map(function (c) { return str(c.id); }).join(', ')};
        }
        await P.chat.pin(a.chatId, a.pin);
      }
      return chatJSON(existingChat(P, a.chatId));
    },
    // a.until (unix seconds) or a.duration (seconds); a.mute false unmutes
    muteChat: async function (P, a) {
      var c = existingChat(P, a.chatId);
      if (a.mute === false) {
        if (muteOf(c)) await P.chat.unmute(a.chatId);
      } else {
        await P.chat.mute(a.chatId, a.until ? {expiration: a.until} : {duration: a.duration});
      }
      return chatJSON(existingChat(P, a.chatId));
    },
    clearChat: async function (P, a) {
      existingChat(P, a.chatId);
      var r = await P.chat.clear(a.chatId, a.keepStarred !== false);
      if (r && r.status >= 400) throw {code: 'chat_clear_failed', message: 'WhatsApp answered ' + r.status};
      return {chatId: a.chatId, cleared: true, keepStarred: a.keepStarred !== false};
    },
    // chat.delete finds or creates the chat: an unknown one is refused before it is made
    deleteChat: async function (P, a) {
      existingChat(P, a.chatId);
      var r = await P.chat.delete(a.chatId);
      if (r && r.status >= 400) throw {code: 'chat_delete_failed', message: 'WhatsApp answered ' + r.status};
      return {chatId: a.chatId, deleted: true};
    },
    // getAllLabels does not check (a personal account's list is just empty): check it here
    labels: async function (P) {
      businessOnly(P);
      return (await P.labels.getAllLabels()).map(labelJSON);
    },
    addLabel: async function (P, a) {
      businessOnly(P);
      // WhatsApp Business keeps at most 20 labels: say so before asking it
      if ((await P.labels.getAllLabels()).length >= 20) {
        throw {code: 'label_limit', message: 'WhatsApp Business keeps at most 20 labels'};
      }
      // addNewLabel reads labelColor 0 as "choose one": the colour goes by its palette value,
      // which it maps back to the index
      var opts = {};
      if (typeof a.color === 'number') {
        opts.labelColor = (await P.labels.getLabelColorPalette())[a.color];
        if (!opts.labelColor) throw {code: 'color_not_in_pallet', message: 'No label colour ' + a.color};
      }
      return labelJSON(await P.labels.addNewLabel(a.name, opts));
    },
    changeChatLabels: async function (P, a) {
      businessOnly(P);
      existingChat(P, a.chatId);
      var known = {};
      (await P.labels.getAllLabels()).forEach(function (l) { known[String(l.id)] = true; });
      var ops = [];
      (a.add || []).forEach(function (id) { ops.push({labelId: String(id), type: 'add'}); });
      (a.remove || []).forEach(function (id) { ops.push({labelId: String(id), type: 'remove'}); });
      ops.forEach(function (o) {
        if (!known[o.labelId]) throw {code: 'label_not_found', message: 'No label ' + o.labelId};
      });
      await P.labels.addOrRemoveLabels([a.chatId], ops);
      return chatJSON(existingChat(P, a.chatId));
    },
    queryExists: async function (P, a) {
      var r = await lookUp(P, a.id);  // contact/functions/queryWidExists.d.ts: lid?
      if (!r) return null;
      // WhatsApp's own lookup (lookUp's fallback) carries no lid
      var lid = ('lid' in r ? str(r.lid) : null) || (await idsOf(P, str(r.wid))).lid;
      return {id: str(r.wid), lid: lid, isBusiness: r.biz === true};
    },

    // ---- blocklist, contacts' profiles, the account's own profile, group administration.
    // wa-js 4.6.0: dist/blocklist/functions/*.d.ts, dist/contact/functions/getProfilePictureUrl
    // and getStatus.d.ts, dist/profile/functions/*.d.ts, dist/group/functions/*.d.ts.
    blockContact: async function (P, a) {
      var r = a.block ? await P.blocklist.blockContact(a.id) : await P.blocklist.unblockContact(a.id);
      return {id: str(r && r.wid) || a.id, blocked: !!(r && r.isBlocked)};
    },
    blocklist: async function (P) {
      return P.blocklist.all().map(str);
    },
    // getProfilePictureUrl / getStatus answer null alike for "none" and "not on WhatsApp": ask first.
    contactProfile: async function (P, a) {
      var r = await lookUp(P, a.id);
      if (!r) throw {code: 'contact_not_found', message: a.id + ' is not on WhatsApp'};
      var id = str(r.wid) || a.id;
      if (a.what === 'picture') return {id: id, url: (await P.contact.getProfilePictureUrl(id, true)) || null};
      return {id: id, about: (await P.contact.getStatus(id)) || null};
    },
    myProfile: async function (P) {
      var picture = null;
      try {
        var thumb = await P.profile.getMyProfilePicture();  // a ProfilePicThumbModel
        picture = (thumb && (thumb.imgFull || thumb.eurl || thumb.img)) || null;
      } catch (e) { /* no photo */ }
      return {id: str(P.conn.getMyUserId()), name: P.profile.getMyProfileName() || null,
              about: (await P.profile.getMyStatus()) || null, pictureUrl: picture};
    },
    setMyProfile: async function (P, a) {
      if (typeof a.name === 'string') await P.profile.setMyProfileName(a.name);
      if (typeof a.about === 'string') await P.profile.setMyStatus(a.about);
      if (a.picture) await P.profile.setMyProfilePicture(a.picture);  // a data: URL
      w.me = null;  // the next poll reads the new name
      return await ops.myProfile(P);
    },
    // Fields apply in this order; a refusal stops there (the earlier ones stay applied).
    updateGroup: async function (P, a) {
      if (typeof a.subject === 'string') await P.group.setSubject(a.groupId, a.subject);
      if (typeof a.description === 'string') await P.group.setDescription(a.groupId, a.description);
      if (typeof a.announce === 'boolean') await P.group.setProperty(a.groupId, P.group.GroupProperty.ANNOUNCEMENT, a.announce);
      if (typeof a.restrict === 'boolean') await P.group.setProperty(a.groupId, P.group.GroupProperty.RESTRICT, a.restrict);
      return groupOf(P, a.groupId);
    },
    // Idempotent, like the rest of the API: an admin asked to be promoted (or a member to be
    // demoted) already is one, so only the others go to WhatsApp (promoteParticipants throws
    // group_participant_is_already_a_group_admin otherwise). Non-members are passed on for
    // WhatsApp to refuse (group_participant_not_found). group.demoteParticipants (module 42490)
    // refuses the whole call unless canDemote holds for each, which it never does for the
    // group's creator: that one is WhatsApp's own refusal (not_authorized), said first.
    changeAdmins: async function (P, a) {
      var chat = P.chat.get(a.groupId);
      var members = chat && chat.groupMetadata && chat.groupMetadata.participants;
      function member(id) { return (members && members.get(id)) || null; }
      function admin(id) { var p = member(id); return p ? p.isAdmin === true : null; }
      var promote = (a.promote || []).filter(function (id) { return admin(id) !== true; });
      var demote = (a.demote || []).filter(function (id) { return admin(id) !== false; });
      var creator = demote.filter(function (id) { var p = member(id); return p && p.isSuperAdmin === true; });
      if (creator.length) {
        throw {code: 'not_authorized', message: 'WhatsApp does not demote the group creator ' + creator[0]};
      }
      if (promote.length) await P.group.promoteParticipants(a.groupId, promote);
      if (demote.length) await P.group.demoteParticipants(a.groupId, demote);
      return groupOf(P, a.groupId);
    },
    inviteLink: async function (P, a) {
      var code = a.revoke ? await P.group.revokeInviteCode(a.groupId) : await P.group.getInviteCode(a.groupId);
      return {groupId: a.groupId, code: String(code), link: 'https://chat.whatsapp.com/' + code};
    },
    // The invite's preview first, as WhatsApp Web shows it: a bad code fails with
    // invalid_invite_code (join itself rethrows whatever the server answered).
    joinGroup: async function (P, a) {
      var info = await P.group.getGroupInfoFromInviteCode(a.code);
      var me = str(P.conn.getMyUserId());
      if ((info.participants || []).some(function (p) { return str(p.id) === me; })) {
        throw {code: 'already_group_member', message: 'The account is already in ' + str(info.id)};
      }
      var r = await P.group.join(a.code);
      return {id: str(r.id), name: info.subject || null, pendingApproval: r.pendingApproval === true};
    },
    listChannels: async function (P) {
      return (await P.chat.list({onlyNewsletter: true})).filter(Boolean).map(channelJSON);
    },
    getChannel: async function (P, a) {
      return channelJSON(channelChat(P, a.id));
    },
    createChannel: async function (P, a) {
      var opts = {};
      if (a.description) opts.description = a.description;
      if (a.picture) opts.picture = a.picture;
      var r = await P.newsletter.create(a.name, opts);
      var chat = P.chat.get(r.idJid);
      return chat ? channelJSON(chat) : {id: r.idJid, name: r.name, description: r.description,
        role: 'owner', followers: r.subscribersCount, inviteCode: r.inviteCode,
        inviteLink: r.inviteLink, createdAt: r.timestamp, mutedUntil: null};
    },
    editChannel: async function (P, a) {
      adminChannel(P, a.id, false);
      var opts = {};
      if (typeof a.name === 'string') opts.name = a.name;
      if (typeof a.description === 'string') opts.description = a.description;
      if (a.picture) opts.picture = a.picture;
      await P.newsletter.edit(a.id, opts);
      return channelJSON(channelChat(P, a.id));
    },
    // destroy answers false when WhatsApp refuses
    deleteChannel: async function (P, a) {
      adminChannel(P, a.id, true);
      if (!(await P.newsletter.destroy(a.id))) {
        throw {code: 'channel_delete_failed', message: 'WhatsApp did not delete ' + a.id};
      }
      return {id: a.id, deleted: true};
    },
    // follow/unfollow wrap WhatsApp's error as {code, error: {status}}: a 404 is no channel
    followChannel: async function (P, a) {
      try {
        if (a.follow) await P.newsletter.follow(a.id); else await P.newsletter.unfollow(a.id);
      } catch (e) {
        if (e && e.error && e.error.status === 404) {
          throw {code: 'channel_not_found', message: 'WhatsApp has no channel ' + a.id};
        }
        throw e;
      }
      var chat = null;
      try { chat = P.chat.get(a.id); } catch (e) { /* invalid_wid */ }
      return {id: a.id, following: !!(chat && chat.isNewsletter), channel: chat && chat.isNewsletter ? channelJSON(chat) : null};
    },
    // getSubscribers answers false when the request failed
    channelFollowers: async function (P, a) {
      adminChannel(P, a.id, false);
      var list = await P.newsletter.getSubscribers(a.id, a.limit);
      if (list === false) throw {code: 'whatsapp_unavailable', message: 'WhatsApp did not list the followers'};
      return list.map(function (f) {
        return {id: str(f.id), name: f.displayName || null, role: f.role || null,
                followedAt: typeof f.followTime === 'number' ? f.followTime : null};
      });
    },
    // a.post text|file|poll, with the send ops' own arguments: owners and admins only
    sendChannel: async function (P, a) {
      adminChannel(P, a.to, false);
      var send = {text: ops.sendText, file: ops.sendFile, poll: ops.sendPoll}[a.post];
      if (!send) throw {code: 'unknown_op', message: 'No channel send ' + a.post};
      return send(P, a);
    },
    // a.post text ({text, backgroundColor, font}) | image | video ({data, caption})
    postStatus: async function (P, a) {
      var r;
      if (a.post === 'text') {
        r = await P.status.sendTextStatus(a.text, {backgroundColor: a.backgroundColor, font: a.font, waitForAck: true});
      } else if (a.post === 'image') {
        r = await P.status.sendImageStatus(a.data, {caption: a.caption || undefined, waitForAck: true});
      } else {
        r = await P.status.sendVideoStatus(a.data, {caption: a.caption || undefined, waitForAck: true});
      }
      var json = await sent(P, r);
      return statusJSON(P, await P.chat.getMessageById(json.id));
    },
    myStatuses: async function (P) {
      var mine = await P.status.getMyStatus();
      var list = mine && mine.msgs ? mine.msgs.getModelsArray() : [];
      var now = Date.now() / 1000;
      var out = [];
      for (var i = 0; i < list.length; i++) {
        var m = list[i];
        if (!m || !m.id || m.type === 'revoked' || !m.id.fromMe) continue;
        out.push(await statusJSON(P, m));
      }
      return out.filter(function (x) { return !x.expiresAt || x.expiresAt > now - 60; }).sort(byTime);
    },
    // remove throws error_on_remove_status when WhatsApp refuses (not ours, gone)
    deleteStatus: async function (P, a) {
      await P.status.remove(a.id);
      return {id: a.id, deleted: true};
    },
    listCommunities: async function (P) {
      return (await P.chat.list({onlyCommunities: true})).filter(Boolean).map(function (c) {
        return communityJSON(P, c);
      });
    },
    getCommunity: async function (P, a) {
      return communityJSON(P, communityChat(P, a.id));
    },
    createCommunity: async function (P, a) {
      var r = await P.community.create(a.name, a.description || '', a.groups || []);
      var out = communityJSON(P, communityChat(P, str(r.wid)));
      out.failedGroups = (r.subGroups && r.subGroups.failedGroups) || [];
      return out;
    },
    // each refused group is in failedGroups ({jid, error}: 403 not its admin, 404 unknown)
    changeCommunityGroups: async function (P, a) {
      var chat = communityChat(P, a.id);
      if (!(chat.groupMetadata.participants && chat.groupMetadata.participants.iAmAdmin())) {
        throw {code: 'not_community_admin', message: 'The account is not an admin of ' + a.id};
      }
      var failed = [];
      if (a.add && a.add.length) failed = failed.concat((await P.community.addSubgroups(a.id, a.add)).failedGroups);
      if (a.remove && a.remove.length) failed = failed.concat((await P.community.removeSubgroups(a.id, a.remove)).failedGroups);
      var out = communityJSON(P, communityChat(P, a.id));
      out.failedGroups = failed;
      return out;
    },
    // the announcement group takes its admins' messages only (WhatsApp refuses the others)
    communityAnnounce: async function (P, a) {
      communityChat(P, a.id);
      var announce = str(P.community.getAnnouncementGroup(a.id));
      var chat = announce ? P.chat.get(announce) : null;
      var members = chat && chat.groupMetadata && chat.groupMetadata.participants;
      if (!members || !members.iAmAdmin()) {
        throw {code: 'not_community_admin', message: 'Only the admins of ' + a.id + ' post announcements'};
      }
      return ops.sendText(P, {to: announce, text: a.text});
    },
    // idempotent like changeAdmins: only who changes goes to WhatsApp
    changeCommunityAdmins: async function (P, a) {
      var members = communityChat(P, a.id).groupMetadata.participants;
      function admin(id) { var p = members && members.get(id); return p ? p.isAdmin === true : null; }
      var promote = (a.promote || []).filter(function (id) { return admin(id) !== true; });
      var demote = (a.demote || []).filter(function (id) { return admin(id) !== false; });
      if (promote.length) await P.community.promoteParticipants(a.id, promote);
      if (demote.length) await P.community.demoteParticipants(a.id, demote);
      return communityJSON(P, communityChat(P, a.id));
    },
    deactivateCommunity: async function (P, a) {
      var chat = communityChat(P, a.id);
      var me = str(P.conn.getMyUserId());
      var owner = participantsOf(chat.groupMetadata).filter(function (p) { return p.isSuperAdmin; })[0];
      if (!owner || (owner.id !== me && owner.id.split('@')[0] !== (me || '').split('@')[0])) {
        throw {code: 'not_community_owner', message: 'Only the creator of ' + a.id + ' deactivates it'};
      }
      await P.community.deactivate(a.id);
      return {id: a.id, deactivated: true};
    },
    leaveGroup: async function (P, a) {
      if (!(await P.group.iAmMember(a.groupId))) {
        throw {code: 'not_group_member', message: 'The account is not in ' + a.groupId};
      }
      await P.group.leave(a.groupId);
      return {id: a.groupId, left: true};
    }
  };
  w.ops = ops;
  w.helpers = {str: str, msgJSON: msgJSON, idsOf: idsOf, withIds: withIds, chatJSON: chatJSON, groupJSON: groupJSON,
               contactJSON: contactJSON, sent: sent, SEND: SEND, recipient: recipient};

  function errorEnvelope(e) {
    if (typeof e === 'string') return {ok: false, code: e, message: e};
    if (e && typeof e === 'object') {
      var env = {ok: false, code: e.code ? String(e.code) : 'page_error', message: String(e.message || e)};
      if (e.details && typeof e.details === 'object') env.details = e.details;
      return env;
    }
    return {ok: false, code: 'page_error', message: String(e)};
  }

  w.run = function (op, args) {
    return new Promise(function (resolve) {
      var P = currentWPP();
      if (!P || P.isFullReady !== true) { resolve({ok: false, code: 'wpp_not_ready', message: 'WhatsApp Web is loading'}); return; }
      if (!ops[op]) { resolve({ok: false, code: 'unknown_op', message: op}); return; }
      // A send with a pre-assigned id is in flight until its call settles, even after the
      // gateway stopped waiting for it (findSent answers pending meanwhile: never sent twice).
      var id = args && args.messageId;
      if (id) w.inflight[id] = Date.now();
      var settle = function (envelope) { if (id) delete w.inflight[id]; resolve(envelope); };
      try {
        Promise.resolve(ops[op](P, args || {})).then(function (v) {
          settle({ok: true, value: v === undefined ? null : v});
        }, function (e) { settle(errorEnvelope(e)); });
      } catch (e) { settle(errorEnvelope(e)); }  // some WPP functions throw synchronously
    });
  };
})();
