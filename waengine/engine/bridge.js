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
  if (window.top !== window || window.__waengine) return;
  var CONFIG = __WAENGINE_CONFIG__;
  var QUEUE_KEY = 'waengine.queue';
  var w = {doc: Math.random().toString(36).slice(2), attached: false, injected: false,
           queue: [], seq: 0, seen: [], authCode: null, me: null, keepAlive: false,
           media: {}, mediaSeq: 0};
  window.__waengine = w;
  if (CONFIG.wppConfig) window.WPPConfig = CONFIG.wppConfig;

  try {
    var saved = JSON.parse(window.sessionStorage.getItem(QUEUE_KEY) || 'null');
    if (saved && Array.isArray(saved.queue)) { w.queue = saved.queue; }
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

  function push(type, data) {
    w.seq += 1;
    var event = {id: w.doc + ':' + w.seq, type: type, data: data, at: Date.now()};
    w.queue.push(event);
    persist();  // first: the event survives a reload before the gateway has it
    notify(JSON.stringify({events: [event]}));
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
  function str(x) {
    if (x === null || x === undefined) return null;
    if (typeof x === 'object' && x._serialized) return String(x._serialized);
    return String(x);
  }
  function isGroupId(id) { return typeof id === 'string' && id.slice(-5) === '@g.us'; }
  var MEDIA = {image: 1, video: 1, audio: 1, ptt: 1, sticker: 1, document: 1};

  function contactJSON(c) {
    if (!c) return null;
    var id = str(c.id);
    return {id: id, phone: id && id.slice(-5) === '@c.us' ? id.split('@')[0] : null,
            name: c.name || null, shortName: c.shortName || null, pushname: c.pushname || null,
            isMyContact: c.isMyContact === true, isBusiness: c.isBusiness === true};
  }

  function msgJSON(m) {
    var key = m.id || {};
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
      quotedId: str(m.quotedMsgId), mentions: (m.mentionedJidList || []).map(str),
      notifyName: m.notifyName || null, isGroupMsg: isGroupId(str(key.remote)),
      sender: m.senderObj ? contactJSON(m.senderObj) : null
    };
  }

  function participantsOf(meta) {
    var list = meta && meta.participants;
    if (!list) return [];
    var arr = typeof list.getModelsArray === 'function' ? list.getModelsArray() : list;
    return Array.prototype.map.call(arr, function (p) {
      return {id: str(p.id), isAdmin: p.isAdmin === true || p.isSuperAdmin === true,
              isSuperAdmin: p.isSuperAdmin === true};
    });
  }

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
  function muteOf(c) {
    var e = c.mute && typeof c.mute.expiration === 'number' ? c.mute.expiration : c.muteExpiration;
    if (typeof e !== 'number' || e === 0) return 0;
    return e < 0 || e > Date.now() / 1000 ? e : 0;
  }

  function groupJSON(c) {
    var meta = (c && c.groupMetadata) || {};
    return {id: str(c.id), name: meta.subject || c.name || null, owner: str(meta.owner),
            participants: participantsOf(meta), creation: meta.creation || null};
  }

  // ---- WPP discovery, listeners and injection ----
  function currentWPP() {
    if (window.WPP) return window.WPP;
    try { return typeof WPP !== 'undefined' ? WPP : null; } catch (e) { return null; }  // eslint-disable-line no-undef
  }

  function safe(fn) {
    return function () {
      try { fn.apply(null, arguments); } catch (e) { push('bridge.error', {message: String(e)}); }
    };
  }

  function onMessage(m) {
    if (!m || !m.id || m.type === 'ciphertext') return;  // the decrypted copy follows, same id
    var json = msgJSON(m);
    if (w.seen.indexOf(json.id) !== -1) return;
    w.seen.push(json.id);
    if (w.seen.length > 2000) w.seen.splice(0, 1000);
    push(json.fromMe ? 'message.sent' : 'message', json);
    subscribePresence(json.chatId);
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
      json.editedAt = e.msg.latestEditSenderTimestampMs
        ? Math.floor(e.msg.latestEditSenderTimestampMs / 1000) : null;
      push('message.edited', json);
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
    P.on('conn.logout_reason', safe(function (r) { w.logoutReason = String(r); }));
    P.on('conn.logout', safe(function () { push('conn.logout', {reason: w.logoutReason || null}); }));
    // Login state moved: the gateway polls once to derive its status (QR, CONNECTED, ...).
    ['conn.auth_code_change', 'conn.authenticated', 'conn.main_ready', 'conn.main_loaded',
     'conn.qrcode_idle', 'conn.require_auth', 'conn.logout', 'conn.stream_mode_changed',
     'loader.ready', 'loader.full_ready'].forEach(function (name) {
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
  w.poll = async function (ackIds) {
    w.ack(ackIds);
    var P = currentWPP();
    var s = {doc: w.doc, url: location.href, wpp: !!P, injected: w.injected,
             version: (P && P.version) || null, ready: false, fullReady: false, auth: false,
             mode: null, qr: null, idle: false, me: null, events: w.queue.slice(0, 200)};
    if (!P) return s;
    attach(P);
    s.ready = P.isReady === true;
    s.fullReady = P.isFullReady === true;
    if (!s.fullReady || !P.conn) return s;
    s.auth = P.conn.isAuthenticated() === true;
    var stream = P.conn.getStreamData ? P.conn.getStreamData() : null;
    s.mode = stream ? stream.mode : null;
    s.idle = P.conn.isIdle ? P.conn.isIdle() === true : false;
    if (!s.auth) {
      w.me = null;
      var code = s.idle ? null : await P.conn.getAuthCode();
      s.qr = code && code.fullCode ? code.fullCode : null;
      return s;
    }
    if (!w.me) w.me = await whoAmI(P);
    s.me = w.me;
    if (!w.keepAlive && P.conn.setKeepAlive) { w.keepAlive = P.conn.setKeepAlive(true) !== false; }
    return s;
  };

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

  async function sent(P, result, to) {
    var m = null;
    try { m = await P.chat.getMessageById(result.id); } catch (e) { /* fall back to the result */ }
    if (m) return msgJSON(m);
    return {id: str(result.id), chatId: str(result.to) || to, fromMe: true, from: str(result.from),
            to: str(result.to) || to, type: 'chat', body: '', timestamp: Math.floor(Date.now() / 1000),
            ack: result.ack || 0};
  }

  // Sends never reject unknown numbers (wa-js creates the chat): ask WhatsApp first, once per
  // recipient and document. A chat the page already has is a recipient it has talked to.
  var known = {};
  async function recipient(P, to) {
    if (to.slice(-5) === '@g.us') {
      if (!P.chat.get(to)) throw {code: 'unknown_group', message: to + ' is not a group of this account'};
      return to;
    }
    if (to.slice(-5) !== '@c.us') return to;
    if (known[to]) return known[to];
    var chat = null;
    try { chat = P.chat.get(to); } catch (e) { /* invalid_wid: queryExists says so below */ }
    if (chat) { known[to] = to; return to; }
    var r = await P.contact.queryExists(to);
    if (!r) throw {code: 'recipient_not_on_whatsapp', message: to + ' is not on WhatsApp'};
    known[to] = str(r.wid) || to;
    return known[to];
  }

  async function recipients(P, ids) {
    var out = [];
    for (var i = 0; i < (ids || []).length; i++) out.push(await recipient(P, ids[i]));
    return out;
  }

  async function quoted(P, id) {
    try {
      await P.chat.getMessageById(id);
    } catch (e) {
      throw {code: 'invalid_quoted_msg', message: 'replyTo: no message ' + id};
    }
    return id;
  }

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

  function existingChat(P, id) {
    var chat = null;
    try { chat = P.chat.get(id); } catch (e) { /* invalid_wid: not found either */ }
    if (!chat) throw {code: 'chat_not_found', message: 'No chat ' + id + ' in this account'};
    return chat;
  }

  // labels/functions/*: assertIsBusiness is Conn.isSMB, as profile.isBusiness() reads it
  function businessOnly(P) {
    if (!(P.profile && typeof P.profile.isBusiness === 'function' && P.profile.isBusiness())) {
      throw {code: 'is_not_business', message: 'Labels need a WhatsApp Business account'};
    }
  }

  // labels/types.d.ts Label {id, name, color, count, hexColor, colorIndex}
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

  var ops = {
    // "typing…" before a paced send; a chat that does not exist yet has nobody to show it to.
    typing: async function (P, a) {
      try { await P.chat.markIsComposing(a.to, a.ms); } catch (e) {
        if (!e || e.code !== 'chat_not_found') throw e;
      }
      return null;
    },
    sendText: async function (P, a) {
      var to = await recipient(P, a.to);
      var opts = Object.assign({}, SEND);
      if (a.messageId) opts.messageId = a.messageId;
      if (a.replyTo) opts.quotedMsg = await quoted(P, a.replyTo);
      if (a.mentions && a.mentions.length) opts.mentionedList = await recipients(P, a.mentions);
      return sent(P, await P.chat.sendTextMessage(to, a.text, opts), to);
    },
    // a.data is a data: URL (the gateway checked type and size); a.kind image|video|audio|document
    sendFile: async function (P, a) {
      var to = await recipient(P, a.to);
      // kind ptt: a voice note, sent as audio with isPtt; kind sticker: a WebP sticker
      var opts = Object.assign({}, SEND, {type: a.kind === 'ptt' ? 'audio' : (a.kind || 'auto-detect'),
                                          filename: a.filename, mimetype: a.mimetype});
      if (a.kind === 'ptt') opts.isPtt = true;
      if (a.messageId) opts.messageId = a.messageId;
      if (a.caption) opts.caption = a.caption;
      return sent(P, await P.chat.sendFileMessage(to, a.data, opts), to);
    },
    sendLocation: async function (P, a) {
      var to = await recipient(P, a.to);
      var opts = Object.assign({}, SEND, {lat: a.latitude, lng: a.longitude});
      if (a.messageId) opts.messageId = a.messageId;
      if (a.name) opts.name = a.name;
      if (a.address) opts.address = a.address;
      return sent(P, await P.chat.sendLocationMessage(to, opts), to);
    },
    // a.contacts: [{id, name}] (id a WhatsApp user id): one card, or a multi_vcard for several
    sendContact: async function (P, a) {
      var to = await recipient(P, a.to);
      var cards = a.contacts.map(function (c) { return c.name ? {id: c.id, name: c.name} : c.id; });
      var opts = Object.assign({}, SEND);
      if (a.messageId) opts.messageId = a.messageId;  // SendMessageOptions (chat/types.d.ts)
      return sent(P, await P.chat.sendVCardContactMessage(to, cards.length === 1 ? cards[0] : cards,
                                                          opts), to);
    },
    sendPoll: async function (P, a) {
      var to = await recipient(P, a.to);
      var opts = Object.assign({}, SEND, {selectableCount: a.selectableCount || 0});
      if (a.messageId) opts.messageId = a.messageId;
      return sent(P, await P.chat.sendCreatePollMessage(to, a.name, a.options, opts), to);
    },
    react: async function (P, a) {
      var r = await P.chat.sendReactionToMessage(a.id, a.emoji || false);
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
        await P.chat.editMessage(a.id, a.text, {linkPreview: false});
      } catch (e) {
        if (e && e.code === 'edit_message_error') {
          throw {code: 'message_not_editable',
                 message: 'WhatsApp allows editing your own texts for 15 minutes only'};
        }
        throw e;
      }
      var json = msgJSON(await P.chat.getMessageById(a.id));
      json.body = a.text.trim();  // the model may update after the edit's own ack
      return json;
    },
    forwardMessage: async function (P, a) {
      var to = await recipient(P, a.to);
      await P.chat.getMessageById(a.id);  // msg_not_found before anything is sent
      var ok = await P.chat.forwardMessage(to, a.id);
      if (ok === false) throw {code: 'forward_failed', message: 'WhatsApp did not forward ' + a.id};
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
      return msgs.map(msgJSON).sort(byTime).slice(-a.limit);
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
      return out;
    },
    getContact: async function (P, a) {
      var c = await P.contact.get(a.id);
      if (c) return contactJSON(c);
      var r = a.id.slice(-5) === '@c.us' ? await P.contact.queryExists(a.id) : null;
      if (!r) throw {code: 'contact_not_found', message: 'No contact ' + a.id};
      var id = str(r.wid);  // on WhatsApp, not in this account's contacts
      return {id: id, phone: id.split('@')[0], name: null, shortName: null, pushname: null,
              isMyContact: false, isBusiness: r.biz === true};
    },
    groups: async function (P) {
      var groups = await P.group.getAllGroups();
      return groups.filter(Boolean).map(groupJSON);
    },
    createGroup: async function (P, a) {
      var participants = await recipients(P, a.participants);
      var r = await P.group.create(a.name, participants);
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
    // The alternative to the QR: the phone types this code under "Link with phone number".
    pairingCode: async function (P, a) {
      return String(await P.conn.genLinkDeviceCodeForPhoneNumber(a.phone, true));
    },
    // Messages the page may have received while the gateway was not draining it (a crash, a
    // restart): every chat active since a.since, its newest a.perChat incoming messages.
    catchUp: async function (P, a) {
      var chats = await P.chat.list({});
      var out = [];
      for (var i = 0; i < chats.length; i++) {
        var c = chats[i];
        var id = c && str(c.id);
        if (!id || id === 'status@broadcast' || (typeof c.t === 'number' && c.t < a.since)) continue;
        var msgs = await P.chat.getMessages(id, {count: a.perChat});
        for (var j = 0; j < msgs.length; j++) {
          var m = msgs[j];
          if (!m || !m.id || m.type === 'ciphertext' || (m.t || 0) < a.since) continue;
          var json = msgJSON(m);
          if (!json.fromMe) out.push(json);
        }
      }
      return out.sort(byTime);
    },
    // The id a send will carry, chosen before it is attempted: after a crash mid-send the
    // gateway looks for it in the chat instead of sending blind a second time.
    newMessageId: async function (P, a) {
      var to = await recipient(P, a.to);
      return str(await P.chat.generateMessageID(to));
    },
    // A send of ours by its pre-assigned id: null when WhatsApp never got it.
    findSent: async function (P, a) {
      var m = null;
      try { m = await P.chat.getMessageById(a.id); } catch (e) { return null; }
      if (!m || (typeof m.ack === 'number' && m.ack < 1)) return null;
      return msgJSON(m);
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
        var pinned = (await P.chat.list({})).filter(function (c) { return c && c.pin; });
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
      var opts = typeof a.color === 'number' ? {labelColor: a.color} : {};
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
      var r = await P.contact.queryExists(a.id);
      return r ? {id: str(r.wid), lid: str(r.lid), isBusiness: r.biz === true} : null;
    }
  };
  w.ops = ops;
  w.helpers = {str: str, msgJSON: msgJSON, chatJSON: chatJSON, groupJSON: groupJSON,
               contactJSON: contactJSON, sent: sent, SEND: SEND, recipient: recipient};

  function errorEnvelope(e) {
    if (typeof e === 'string') return {ok: false, code: e, message: e};
    if (e && typeof e === 'object') {
      return {ok: false, code: e.code ? String(e.code) : 'page_error', message: String(e.message || e)};
    }
    return {ok: false, code: 'page_error', message: String(e)};
  }

  w.run = function (op, args) {
    return new Promise(function (resolve) {
      var P = currentWPP();
      if (!P || P.isFullReady !== true) { resolve({ok: false, code: 'wpp_not_ready', message: 'WhatsApp Web is loading'}); return; }
      if (!ops[op]) { resolve({ok: false, code: 'unknown_op', message: op}); return; }
      try {
        Promise.resolve(ops[op](P, args || {})).then(function (v) {
          resolve({ok: true, value: v === undefined ? null : v});
        }, function (e) { resolve(errorEnvelope(e)); });
      } catch (e) { resolve(errorEnvelope(e)); }  // some WPP functions throw synchronously
    });
  };
})();
