/*
 * waengine sandbox: an in-page `window.WPP` imitating @wppconnect/wa-js 4.6.0.
 *
 * The shapes, names, sync/async split, error codes and events follow
 * shared/WPP-SURFACE.md so that the gateway's code runs unchanged against this page
 * and against real WhatsApp Web + wa-js. The "network" lives on the sandbox server;
 * this page talks to it over same-origin HTTP (long-polling, see `pump`).
 *
 * Loaded with a synchronous <script src> in <head>: WPP exists at once with every
 * readiness flag false; the flags flip later, after the login state is known.
 */
(function () {
  'use strict';

  if (window.WPP && window.WPP.__sandbox) {
    return; // never twice in one document (real wa-js double-fires when injected twice)
  }

  const API = '/_sandbox/api';
  const SCRIPT_START = Date.now();
  const INJECT_AFTER_MS = 600; // like wa-js waiting for WhatsApp's modules to settle
  const STAGE_GAP_MS = 250; // injected -> ready -> full_ready
  const RELOAD_AFTER_LINK_MS = 500;
  const RELOAD_AFTER_LOGOUT_MS = 1000; // leave the gateway time to drain conn.logout
  const POLL_SECONDS = 25;
  const IDB_NAME = 'waengine-sandbox';
  const IDB_STORE = 'login';
  const IDB_KEY = 'current';

  const pageOptions = readPageOptions();
  const clientId = 'c' + randomHex(12);

  // ======================================================================= helpers

  function readPageOptions() {
    const meta = document.querySelector('meta[name="sandbox-options"]');
    try {
      return Object.assign({ reloadAfterScan: true }, meta ? JSON.parse(meta.content) : {});
    } catch (e) {
      return { reloadAfterScan: true };
    }
  }

  function randomHex(chars) {
    const bytes = new Uint8Array(Math.ceil(chars / 2));
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('').slice(0, chars);
  }

  function newMessageId() {
    return ('3EB0' + randomHex(16)).toUpperCase();
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  function unixTime() {
    return Math.floor(Date.now() / 1000);
  }

  function log(...args) {
    console.debug('[sandbox]', ...args);
  }

  // ======================================================================= events

  /** EventEmitter2-like emitter: no wildcards, onAny, waitFor resolving the args array. */
  class Emitter {
    constructor() {
      this._listeners = new Map();
      this._any = [];
    }

    _list(event) {
      if (!this._listeners.has(event)) this._listeners.set(event, []);
      return this._listeners.get(event);
    }

    on(event, fn) {
      this._list(event).push({ fn, left: Infinity });
      return this;
    }

    prependListener(event, fn) {
      this._list(event).unshift({ fn, left: Infinity });
      return this;
    }

    once(event, fn) {
      return this.many(event, 1, fn);
    }

    many(event, times, fn) {
      this._list(event).push({ fn, left: times });
      return this;
    }

    off(event, fn) {
      const list = this._listeners.get(event);
      if (!list) return this;
      const index = list.findIndex((l) => l.fn === fn);
      if (index >= 0) list.splice(index, 1);
      return this;
    }

    removeAllListeners(event) {
      if (event === undefined) this._listeners.clear();
      else this._listeners.delete(event);
      return this;
    }

    onAny(fn) {
      this._any.push(fn);
      return this;
    }

    offAny(fn) {
      this._any = fn ? this._any.filter((f) => f !== fn) : [];
      return this;
    }

    listeners(event) {
      return (this._listeners.get(event) || []).map((l) => l.fn);
    }

    listenerCount(event) {
      return (this._listeners.get(event) || []).length;
    }

    eventNames() {
      return Array.from(this._listeners.keys()).filter((e) => this.listenerCount(e));
    }

    emit(event, ...args) {
      // A throwing listener must not break the page's own bookkeeping (event acks).
      for (const fn of this._any.slice()) {
        safeCall(fn, this, [event, ...args]);
      }
      const list = this._listeners.get(event);
      if (!list || !list.length) return this._any.length > 0;
      for (const l of list.slice()) {
        if (--l.left <= 0) this.off(event, l.fn);
        safeCall(l.fn, this, args);
      }
      return true;
    }

    waitFor(event, options) {
      const timeout = typeof options === 'number' ? options : (options && options.timeout) || 0;
      const filter = options && typeof options.filter === 'function' ? options.filter : null;
      return new Promise((resolve, reject) => {
        let timer = null;
        const listener = (...args) => {
          if (filter && !filter(...args)) return;
          this.off(event, listener);
          if (timer) clearTimeout(timer);
          resolve(args);
        };
        this.on(event, listener);
        if (timeout > 0) {
          timer = setTimeout(() => {
            this.off(event, listener);
            reject(new Error('timeout'));
          }, timeout);
        }
      });
    }
  }

  function safeCall(fn, self, args) {
    try {
      fn.apply(self, args);
    } catch (err) {
      console.error('[sandbox] listener error', err);
    }
  }

  const ev = new Emitter();

  // ======================================================================= errors

  class WPPError extends Error {
    constructor(code, message, extra) {
      super(message);
      this.code = code;
      Object.assign(this, extra || {});
    }
  }

  class InvalidWid extends WPPError {
    constructor(id) {
      super('invalid_wid', `Invalid WID value for ${id}`, { id });
    }
  }

  class InvalidChat extends WPPError {
    constructor(id) {
      super('chat_not_found', `Chat not found for ${id}`, { id });
    }
  }

  /** An error answer of the sandbox server (HTTP status + code). */
  class ServerError extends Error {
    constructor(status, code, message) {
      super(message || code);
      this.status = status;
      this.code = code;
    }
  }

  // ======================================================================= ids

  const WID_RE = /^([\w.+-]+?)(?::(\d+))?@(c\.us|g\.us|lid|broadcast|newsletter|bot|s\.whatsapp\.net)$/;

  class Wid {
    constructor(serialized) {
      const m = WID_RE.exec(serialized);
      if (!m) throw new InvalidWid(serialized);
      this.server = m[3] === 's.whatsapp.net' ? 'c.us' : m[3];
      this.user = m[1];
      if (m[2] !== undefined) this.device = Number(m[2]);
      this._serialized = this.device !== undefined
        ? `${this.user}:${this.device}@${this.server}`
        : `${this.user}@${this.server}`;
    }

    toString() {
      return this._serialized;
    }

    toJSON() {
      return this._serialized;
    }

    equals(other) {
      if (!other) return false;
      const text = typeof other === 'string' ? other : other._serialized;
      return text === this._serialized;
    }

    isUser() {
      return ['c.us', 'lid', 'bot', 'hosted', 'hosted.lid'].includes(this.server);
    }

    isLid() {
      return this.server === 'lid';
    }

    isGroup() {
      return this.server === 'g.us';
    }

    isBroadcast() {
      return this.server === 'broadcast';
    }

    isStatusV3() {
      return this._serialized === 'status@broadcast';
    }

    isNewsletter() {
      return this.server === 'newsletter';
    }

    isPSA() {
      return this._serialized === '0@c.us';
    }
  }

  /** WPP.util.createWid rules (WPP-SURFACE 4.1); undefined when not a wid. */
  function createWid(value) {
    if (!value) return undefined;
    if (value instanceof Wid) return new Wid(value._serialized);
    if (typeof value === 'object' && value._serialized && typeof value._serialized === 'object') {
      value = value._serialized;
    }
    if (typeof value === 'object' && typeof value._serialized === 'string') value = value._serialized;
    if (typeof value === 'object' && value.user && value.server) value = `${value.user}@${value.server}`;
    if (typeof value !== 'string') return undefined;
    try {
      if (/@\w*lid\b/.test(value)) return new Wid(value.replace(/@.*$/, '') + '@lid');
      if (/^\d+$/.test(value)) return new Wid(value + '@c.us');
      if (/^\d+-\d+$/.test(value)) return new Wid(value + '@g.us');
      if (/status$/.test(value)) return new Wid('status@broadcast');
      return new Wid(value);
    } catch (e) {
      return undefined;
    }
  }

  function assertWid(value) {
    const wid = createWid(value);
    if (!wid) throw new InvalidWid(value);
    return wid;
  }

  class MsgKey {
    constructor({ fromMe, remote, id, participant }) {
      this.fromMe = !!fromMe;
      this.remote = createWid(remote);
      this.id = String(id);
      this.participant = participant ? createWid(participant) : undefined;
      this._serialized = `${this.fromMe}_${this.remote}_${this.id}` +
        (this.participant ? `_${this.participant}` : '');
    }

    toString() {
      return this._serialized;
    }

    toJSON() {
      return this; // as wa-js 4.6.0's patch: JSON gives {fromMe, remote, id, participant, _serialized}
    }

    equals(other) {
      return !!other && String(other) === this._serialized;
    }

    static fromString(text) {
      const parts = String(text).split('_');
      if (parts.length < 3) throw new Error(`Invalid message key ${text}`);
      return new MsgKey({
        fromMe: parts[0] === 'true',
        remote: parts[1],
        id: parts[2],
        participant: parts[3],
      });
    }

    static newId() {
      return newMessageId();
    }
  }

  function keyFromView(view) {
    return new MsgKey(view);
  }

  // ======================================================================= models

  /** A list of models with WhatsApp's collection helpers. */
  class Collection {
    constructor(models) {
      this._models = models ? models.slice() : [];
    }

    get length() {
      return this._models.length;
    }

    getModelsArray() {
      return this._models.slice();
    }

    toArray() {
      return this._models.slice();
    }

    get(id) {
      const text = String(id && id._serialized ? id._serialized : id);
      return this._models.find((m) => String(m.id) === text);
    }

    add(model) {
      this._models.push(model);
    }

    remove(id) {
      const text = String(id);
      this._models = this._models.filter((m) => String(m.id) !== text);
    }

    forEach(fn) {
      this._models.forEach(fn);
    }

    map(fn) {
      return this._models.map(fn);
    }

    filter(fn) {
      return this._models.filter(fn);
    }

    [Symbol.iterator]() {
      return this._models[Symbol.iterator]();
    }
  }

  /** Backbone-ish model: props are plain properties; toJSON/serialize give props only. */
  class Model {
    constructor(attrs) {
      for (const name of this.constructor.props) {
        if (attrs && attrs[name] !== undefined) this[name] = attrs[name];
      }
    }

    get(name) {
      return this[name];
    }

    set(name, value) {
      if (typeof name === 'object') Object.assign(this, name);
      else this[name] = value;
      return this;
    }

    toJSON() {
      const out = {};
      for (const name of this.constructor.props) {
        if (this[name] !== undefined) out[name] = this[name];
      }
      return out;
    }

    serialize() {
      return this.toJSON();
    }
  }

  function hidden(obj, name, value) {
    Object.defineProperty(obj, name, { value, writable: true, configurable: true, enumerable: false });
  }

  class ContactModel extends Model {
    get isMyContact() {
      return !!this.__isMyContact;
    }

    get isMe() {
      return !!(state.me && this.id && this.id.equals(state.me.wid));
    }

    get isWAContact() {
      return true;
    }

    get formattedName() {
      return this.name || this.pushname || (this.id ? '+' + this.id.user : '');
    }

    get displayName() {
      return this.formattedName;
    }

    get notifyName() {
      return this.pushname;
    }

    // wa-js 4.6.0 installs these as getters returning functions (WPP-SURFACE 4.6):
    // callers must compute them from `id`, as the gateway does on real WhatsApp.
    get isUser() {
      return () => !!(this.id && this.id.isUser());
    }

    get isGroup() {
      return () => !!(this.id && this.id.isGroup());
    }

    get isBroadcast() {
      return () => !!(this.id && this.id.isBroadcast());
    }

    get isPSA() {
      return () => !!(this.id && this.id.isPSA());
    }
  }
  ContactModel.props = ['id', 'name', 'shortName', 'pushname', 'type', 'verifiedName',
    'verifiedLevel', 'isBusiness', 'isEnterprise', 'labels', 'username'];

  class ParticipantModel extends Model {
    get contact() {
      return contactFor(this.id);
    }
  }
  ParticipantModel.props = ['id', 'isAdmin', 'isSuperAdmin'];

  class ParticipantCollection extends Collection {
    iAmAdmin() {
      const me = state.me && this.get(state.me.wid);
      return !!(me && me.isAdmin);
    }

    iAmSuperAdmin() {
      const me = state.me && this.get(state.me.wid);
      return !!(me && me.isSuperAdmin);
    }

    canRemove(wid) {
      const p = this.get(wid);
      return !!p && !p.isSuperAdmin;
    }
  }

  class GroupMetadataModel extends Model {}
  GroupMetadataModel.props = ['id', 'subject', 'desc', 'owner', 'creation', 'size', 'announce',
    'restrict', 'isLidAddressingMode', 'memberAddMode'];

  class ChatModel extends Model {
    constructor(attrs) {
      super(attrs);
      hidden(this, 'msgs', new Collection());
      hidden(this, 'groupMetadata', undefined);
    }

    get contact() {
      return this.id.isUser() ? contactFor(this.id) : undefined;
    }

    get formattedTitle() {
      if (this.id.isGroup()) return this.groupMetadata ? this.groupMetadata.subject : this.name;
      return this.name || contactFor(this.id).formattedName;
    }

    get isGroup() {
      return this.id.isGroup();
    }

    get isUser() {
      return this.id.isUser();
    }

    get isNewsletter() {
      return this.id.isNewsletter();
    }

    get isPSA() {
      return this.id.isPSA();
    }

    get hasUnread() {
      return this.unreadCount !== 0;
    }

    get kind() {
      return this.id.isGroup() ? 'group' : 'chat';
    }

    get lastReceivedKey() {
      const last = this.msgs._models[this.msgs._models.length - 1];
      return last ? last.id : undefined;
    }
  }
  ChatModel.props = ['id', 'name', 't', 'unreadCount', 'archive', 'pin', 'muteExpiration',
    'isReadOnly', 'isAnnounceGrpRestrict', 'labels', 'notSpam', 'ephemeralDuration'];

  const MEDIA_TYPES = ['image', 'video', 'audio', 'ptt', 'sticker', 'document'];

  class MsgModel extends Model {
    get senderObj() {
      const sender = this.id.fromMe ? state.me && state.me.wid : this.author || this.from;
      return sender ? contactFor(sender) : undefined;
    }

    get chat() {
      return store.chats.get(String(this.id.remote));
    }

    get isGroupMsg() {
      return this.id.remote.isGroup();
    }

    get isMedia() {
      return MEDIA_TYPES.includes(this.type);
    }

    get isNotification() {
      return ['notification', 'notification_template', 'gp2', 'e2e_notification',
        'group_notification', 'call_log'].includes(this.type);
    }

    get isSentByMe() {
      return this.id.fromMe;
    }

    get isStatusV3() {
      return this.id.remote.isStatusV3();
    }

    get quotedMsgId() {
      return this.__quotedKey;
    }

    get mediaData() {
      if (!this.isMedia) return undefined;
      return { type: this.type, mimetype: this.mimetype, size: this.size, filename: this.filename,
        mediaStage: 'RESOLVED' };
    }
  }
  MsgModel.props = ['id', 'type', 'subtype', 'body', 'caption', 't', 'from', 'to', 'author', 'ack',
    'notifyName', 'self', 'isNewMsg', 'local', 'star', 'isForwarded', 'isViewOnce', 'mimetype',
    'filename', 'size', 'duration', 'lat', 'lng', 'loc', 'clientUrl', 'quotedStanzaID',
    'quotedRemoteJid', 'quotedParticipant', 'mentionedJidList', 'isCaptionByUser'];

  // ======================================================================= local stores

  const store = {
    contacts: new Map(), // wid -> ContactModel
    chats: new Map(), // wid -> ChatModel
    msgs: new Map(), // key string -> MsgModel
    msgsById: new Map(), // random id -> MsgModel
    lids: new Map(), // lid wid -> phone wid
  };

  function resetStores() {
    for (const map of Object.values(store)) map.clear();
  }

  function contactFor(wid) {
    let text = String(wid);
    if (store.lids.has(text)) text = store.lids.get(text);
    return store.contacts.get(text) || new ContactModel({ id: createWid(text) });
  }

  function upsertContact(view) {
    let contact = store.contacts.get(view.id);
    if (!contact) {
      contact = new ContactModel({ id: createWid(view.id), type: 'in' });
      store.contacts.set(view.id, contact);
    }
    contact.name = view.name || undefined;
    contact.shortName = view.shortName || undefined;
    contact.pushname = view.pushname || undefined;
    contact.isBusiness = !!view.isBusiness;
    contact.isEnterprise = false;
    contact.verifiedName = view.verifiedName || undefined;
    contact.labels = [];
    hidden(contact, '__isMyContact', !!view.isMyContact);
    if (view.lid) {
      hidden(contact, '__lid', view.lid);
      store.lids.set(view.lid, view.id);
    }
    return contact;
  }

  function groupMetadataFrom(view) {
    const meta = new GroupMetadataModel({
      id: createWid(view.id),
      subject: view.subject,
      desc: view.desc || undefined,
      owner: createWid(view.owner),
      creation: view.creation,
      size: view.participants.length,
      announce: false,
      restrict: false,
      isLidAddressingMode: false,
      memberAddMode: 'admin_add',
    });
    hidden(meta, 'participants', new ParticipantCollection(view.participants.map((p) =>
      new ParticipantModel({ id: createWid(p.id), isAdmin: p.isAdmin, isSuperAdmin: p.isSuperAdmin }))));
    return meta;
  }

  function upsertChat(view) {
    let chat = store.chats.get(view.id);
    if (!chat) {
      chat = new ChatModel({ id: createWid(view.id) });
      store.chats.set(view.id, chat);
    }
    chat.name = view.name || undefined;
    chat.t = view.t;
    chat.unreadCount = view.unreadCount;
    chat.archive = !!view.archive;
    chat.pin = view.pin || 0;
    chat.isReadOnly = !!view.isReadOnly;
    chat.muteExpiration = 0;
    chat.labels = [];
    if (view.groupMetadata) chat.groupMetadata = groupMetadataFrom(view.groupMetadata);
    return chat;
  }

  function newLocalChat(wid) {
    const chat = new ChatModel({ id: wid, t: unixTime(), unreadCount: 0, archive: false, pin: 0,
      isReadOnly: false, muteExpiration: 0, labels: [] });
    store.chats.set(wid._serialized, chat);
    return chat;
  }

  function msgFromView(view, isNew) {
    const attrs = {
      id: keyFromView(view.key),
      type: view.type,
      body: view.body,
      t: view.t,
      from: createWid(view.from),
      to: createWid(view.to),
      author: view.author ? createWid(view.author) : undefined,
      ack: view.ack,
      notifyName: view.notifyName,
      self: view.self,
      isNewMsg: !!isNew,
      star: false,
      isForwarded: false,
      mentionedJidList: (view.mentionedJidList || []).map(createWid),
    };
    for (const name of ['caption', 'filename', 'mimetype', 'size', 'lat', 'lng', 'loc']) {
      if (view[name] !== undefined && view[name] !== null) attrs[name] = view[name];
    }
    const msg = new MsgModel(attrs);
    if (view.quotedKey) setQuoted(msg, keyFromView(view.quotedKey));
    return msg;
  }

  function setQuoted(msg, key) {
    msg.quotedStanzaID = key.id;
    msg.quotedRemoteJid = key.remote;
    msg.quotedParticipant = key.participant || (key.fromMe ? state.me.wid : key.remote);
    hidden(msg, '__quotedKey', key);
  }

  /** Put a message in the stores (replacing an older copy); return the stored model. */
  function storeMessage(msg) {
    const text = msg.id._serialized;
    const old = store.msgs.get(text);
    const chatId = String(msg.id.remote);
    let chat = store.chats.get(chatId);
    if (!chat) chat = newLocalChat(msg.id.remote);
    if (old) chat.msgs.remove(text);
    store.msgs.set(text, msg);
    store.msgsById.set(msg.id.id, msg);
    const list = chat.msgs._models;
    let index = list.length;
    while (index > 0 && list[index - 1].t > msg.t) index--;
    list.splice(index, 0, msg);
    return msg;
  }

  function findMessage(id) {
    const text = String(id);
    return store.msgs.get(text) || store.msgsById.get(text.includes('_') ? text.split('_')[2] : text);
  }

  function applySnapshot(snapshot) {
    resetStores();
    for (const view of snapshot.contacts) upsertContact(view);
    for (const view of snapshot.chats) upsertChat(view);
    for (const view of snapshot.messages) storeMessage(msgFromView(view, false));
  }

  // ======================================================================= state

  const state = {
    injected: false,
    ready: false,
    fullReady: false,
    mainInit: false,
    mainLoaded: false,
    mainReady: false,
    requireAuthSent: false,
    mode: undefined,
    info: undefined,
    login: null, // {device, token, phone}
    me: null, // {wid, lid, name, device}
    loggedIn: false,
    pairing: null, // pairing id
    authCode: null,
    idle: false,
    linkCode: null,
    loggingOut: false,
    stopped: false,
    keepAliveTimer: null,
    statusText: 'Loading…',
  };

  function setStream(mode, info) {
    if (mode !== state.mode) {
      state.mode = mode;
      if (state.injected) ev.emit('conn.stream_mode_changed', mode);
    }
    if (info !== undefined && info !== state.info) {
      state.info = info;
      if (state.injected) ev.emit('conn.stream_info_changed', info);
    }
    render();
  }

  function setMe(me) {
    state.me = { wid: createWid(me.id), lid: createWid(me.lid), name: me.name, device: me.device };
    store.lids.set(me.lid, me.id);
  }

  // ======================================================================= transport

  /** Same-origin JSON request; retries network/5xx failures `retries` times. */
  async function http(method, path, { body, auth = false, retries = 0 } = {}) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (auth && state.login) {
      headers['X-Sandbox-Device'] = state.login.device;
      headers['X-Sandbox-Token'] = state.login.token;
    }
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await fetch(API + path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          cache: 'no-store',
          credentials: 'same-origin',
        });
      } catch (err) {
        if (attempt >= retries) throw new ServerError(0, 'network_error', String(err));
        await sleep(Math.min(5000, 200 * 2 ** attempt));
        continue;
      }
      const data = await response.json().catch(() => ({}));
      if (response.ok) return data;
      if (response.status >= 500 && attempt < retries) {
        await sleep(Math.min(5000, 200 * 2 ** attempt));
        continue;
      }
      const error = data.error || {};
      throw new ServerError(response.status, error.code || 'http_' + response.status, error.message);
    }
  }

  /** Turn a server refusal into the WPPError the real function would throw. */
  function asWPPError(err) {
    if (err instanceof ServerError && err.status > 0) return new WPPError(err.code, err.message);
    return err;
  }

  // The control API can make the next calls of a function hang (command-timeout tests).
  async function stallFor(name) {
    try {
      const answer = await http('GET', '/stall?fn=' + encodeURIComponent(name));
      if (answer.seconds > 0) await sleep(answer.seconds * 1000);
    } catch (e) {
      // the stall switch is a test aid; never let it break a call
    }
  }

  function asyncApi(name, impl) {
    const fn = async function (...args) {
      await stallFor(name);
      return impl.apply(this, args);
    };
    Object.defineProperty(fn, 'name', { value: name.split('.').pop() });
    return fn;
  }

  // ======================================================================= login storage

  function idbRequest(mode, action) {
    return new Promise((resolve, reject) => {
      const open = indexedDB.open(IDB_NAME, 1);
      open.onupgradeneeded = () => open.result.createObjectStore(IDB_STORE);
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const db = open.result;
        // 'strict' makes Chromium flush at commit: a killed browser keeps the login.
        const tx = db.transaction(IDB_STORE, mode, { durability: 'strict' });
        const request = action(tx.objectStore(IDB_STORE));
        let result;
        request.onsuccess = () => { result = request.result; };
        tx.oncomplete = () => { db.close(); resolve(result); };
        tx.onerror = tx.onabort = () => { db.close(); reject(tx.error); };
      };
    });
  }

  const loginStore = {
    load: () => idbRequest('readonly', (s) => s.get(IDB_KEY)),
    save: (login) => idbRequest('readwrite', (s) => s.put(login, IDB_KEY)),
    clear: () => idbRequest('readwrite', (s) => s.delete(IDB_KEY)),
  };

  // ======================================================================= boot

  async function boot() {
    let login = null;
    try {
      login = await loginStore.load();
    } catch (err) {
      log('cannot read the stored login', err);
    }
    if (login && login.device) {
      state.login = login;
      const hello = await http('POST', '/hello', { body: { ...login, client: clientId }, retries: 8 });
      if (hello.loggedIn) {
        setMe(hello.me);
        applySnapshot(await http('GET', '/sync', { auth: true, retries: 8 }));
        state.loggedIn = true;
      } else {
        // Unlinked while this profile was closed: forget it, show a QR (as WhatsApp does).
        log('stored login is gone:', hello.reason);
        state.login = null;
        await loginStore.clear().catch(() => {});
      }
    }
    if (!state.loggedIn) await startPairing();
    await sleep(Math.max(0, INJECT_AFTER_MS - (Date.now() - SCRIPT_START)));
    injected();
    await sleep(STAGE_GAP_MS);
    ready();
    await sleep(STAGE_GAP_MS);
    fullReady();
    if (state.loggedIn) pump();
    else pairingLoop();
  }

  function injected() {
    state.injected = true;
    ev.emit('loader.injected');
    // Event sources attached at injection emit their current values (WPP-SURFACE 5).
    if (state.loggedIn) {
      state.mode = 'MAIN';
      state.info = 'NORMAL';
      state.mainLoaded = true;
      ev.emit('conn.stream_mode_changed', 'MAIN');
      ev.emit('conn.stream_info_changed', 'NORMAL');
      ev.emit('conn.auth_code_change', null);
      ev.emit('conn.main_loaded');
    } else {
      state.mode = 'QR';
      state.info = 'PAIRING';
      ev.emit('conn.stream_mode_changed', 'QR');
      ev.emit('conn.stream_info_changed', 'PAIRING');
      ev.emit('conn.auth_code_change', state.authCode);
      requireAuth();
      if (state.idle) ev.emit('conn.qrcode_idle');
    }
    render();
  }

  function ready() {
    state.mainInit = true;
    state.ready = true;
    ev.emit('conn.main_init');
    ev.emit('loader.ready');
  }

  function fullReady() {
    // conn.main_ready: first time the stream mode is MAIN or QR, once per document.
    state.mainReady = true;
    ev.emit('conn.main_ready');
    state.fullReady = true;
    ev.emit('loader.full_ready');
    render();
  }

  function requireAuth() {
    if (state.requireAuthSent) return;
    state.requireAuthSent = true;
    ev.emit('conn.require_auth');
  }

  // ======================================================================= pairing (QR)

  async function startPairing() {
    const deviceName = typeof WPP.config.deviceName === 'string' ? WPP.config.deviceName : null;
    const answer = await http('POST', '/pairing', { body: { deviceName }, retries: 8 });
    state.pairing = answer.pairing;
    applyPairing(answer);
  }

  /** Apply a pairing answer; emit auth-code events when the ref changed. */
  function applyPairing(answer) {
    if (answer.linked) return onLinked(answer.linked);
    const code = answer.authCode;
    const changed = (code && code.ref) !== (state.authCode && state.authCode.ref);
    state.authCode = code;
    if (changed && state.injected) ev.emit('conn.auth_code_change', code);
    if (answer.idle && !state.idle) {
      state.idle = true;
      if (state.injected) ev.emit('conn.qrcode_idle');
    } else if (!answer.idle) {
      state.idle = false;
    }
    render();
    return null;
  }

  async function pairingLoop() {
    while (!state.loggedIn && !state.stopped && !state.login) {
      const ref = (state.authCode && state.authCode.ref) || '';
      const pairing = state.pairing;
      try {
        const answer = await http('GET',
          `/pairing/${pairing}?ref=${encodeURIComponent(ref)}&timeout=${POLL_SECONDS}`);
        if (pairing === state.pairing) await applyPairing(answer);
        if (answer.closed) return;
      } catch (err) {
        if (err.code === 'pairing_not_found') {
          await startPairing().catch(() => sleep(1000)); // the server was reset
        } else {
          await sleep(1000);
        }
      }
    }
  }

  async function onLinked(linked) {
    if (state.login) return; // already handled
    state.login = { device: linked.device, token: linked.token, phone: linked.phone };
    state.authCode = null;
    state.linkCode = null;
    ev.emit('conn.authenticated');
    setStream('SYNCING', 'SYNCING');
    ev.emit('conn.auth_code_change', null);
    await loginStore.save(state.login);
    if (pageOptions.reloadAfterScan) {
      state.statusText = 'Linked. Loading your chats…';
      render();
      setTimeout(() => location.reload(), RELOAD_AFTER_LINK_MS);
      return;
    }
    // Without a reload: finish the login in this document (main_ready already fired).
    const hello = await http('POST', '/hello', { body: { ...state.login, client: clientId }, retries: 8 });
    if (!hello.loggedIn) return handleLogout(hello.reason);
    setMe(hello.me);
    applySnapshot(await http('GET', '/sync', { auth: true, retries: 8 }));
    state.loggedIn = true;
    state.mainLoaded = true;
    setStream('MAIN', 'NORMAL');
    ev.emit('conn.main_loaded');
    pump();
  }

  // ======================================================================= logout

  async function handleLogout(reason) {
    if (state.loggingOut) return;
    state.loggingOut = true;
    state.stopped = true;
    ev.emit('conn.logout_reason', reason || 'user_initiated');
    ev.emit('conn.logout');
    state.loggedIn = false;
    state.login = null;
    state.statusText = 'Logged out. Reloading…';
    render();
    await loginStore.clear().catch((err) => log('cannot clear the login', err));
    setTimeout(() => location.reload(), RELOAD_AFTER_LOGOUT_MS);
  }

  // ======================================================================= event pump

  /**
   * Long-poll the device's queue. The server keeps every event until a later poll
   * acknowledges it (`ack` = last seq emitted here), so a killed page loses nothing:
   * the next page with this login gets the rest.
   */
  async function pump() {
    let acked = 0;
    let failures = 0;
    while (state.loggedIn && !state.stopped) {
      let answer;
      try {
        answer = await http('GET', `/events?ack=${acked}&client=${clientId}&timeout=${POLL_SECONDS}`,
          { auth: true });
        failures = 0;
      } catch (err) {
        if (err.code === 'device_unlinked') return handleLogout(err.message);
        setStream(state.mode, 'CONNECTING');
        await sleep(Math.min(5000, 250 * 2 ** failures++));
        continue;
      }
      if (answer.loggedOut) return handleLogout(answer.reason);
      if (answer.conflict) {
        state.stopped = true; // another page took over this login ("open in another window")
        setStream('CONFLICT');
        return;
      }
      if (state.info !== 'NORMAL') setStream(state.mode, 'NORMAL');
      for (const event of answer.events) {
        try {
          applyEvent(event);
        } catch (err) {
          console.error('[sandbox] event failed', event, err);
        }
        acked = event.seq;
      }
    }
  }

  const eventHandlers = {
    message(event) {
      upsertContact(event.contact);
      if (event.chat) upsertChat(event.chat);
      const msg = storeMessage(msgFromView(event.msg, true));
      ev.emit('chat.new_message', msg);
      render();
    },
    reaction(event) {
      upsertContact(event.contact);
      const view = event.msg;
      const parent = view.reactionParentKey ? keyFromView(view.reactionParentKey) : undefined;
      ev.emit('chat.new_reaction', {
        id: keyFromView(view.key),
        msgId: parent,
        reactionText: view.body || '',
        read: false,
        sender: createWid(view.author || view.from),
        orphan: parent ? 0 : 1,
        orphanReason: parent ? null : 'parent_not_found',
        timestamp: view.t,
      });
    },
    ack(event) {
      const ids = event.ids.map((text) => {
        const msg = store.msgs.get(text);
        if (msg && msg.ack < event.ack) msg.ack = event.ack;
        return msg ? msg.id : MsgKey.fromString(text);
      });
      const payload = { ack: event.ack, chat: createWid(event.chat), ids };
      if (event.sender) payload.sender = createWid(event.sender);
      ev.emit('chat.msg_ack_change', payload);
    },
    revoke(event) {
      const refId = keyFromView(event.refId);
      const msg = store.msgs.get(refId._serialized);
      if (msg) {
        msg.type = 'revoked';
        msg.body = '';
      }
      const payload = {
        id: keyFromView(event.id),
        refId,
        from: createWid(event.from),
        to: createWid(event.to),
        type: event.revokeType,
      };
      if (event.author) payload.author = createWid(event.author);
      ev.emit('chat.msg_revoke', payload);
      render();
    },
    chat(event) {
      upsertChat(event.chat);
      render();
    },
    participants(event) {
      upsertChat(event.chat);
      ev.emit('group.participant_changed', Object.assign({}, event.event));
      render();
    },
  };

  function applyEvent(event) {
    const handler = eventHandlers[event.type];
    if (handler) handler(event);
    else log('unknown event', event.type);
  }

  // ======================================================================= WPP.conn

  function myWid() {
    return state.loggedIn && state.me ? createWid(state.me.wid) : undefined;
  }

  const conn = {
    getAuthCode: asyncApi('conn.getAuthCode', async () =>
      (state.loggedIn || state.login || state.idle ? null : state.authCode)),
    refreshQR: asyncApi('conn.refreshQR', async () => {
      if (state.loggedIn || state.login) return null;
      const answer = await http('POST', `/pairing/${state.pairing}/refresh`, { retries: 3 });
      applyPairing(answer);
      return state.authCode;
    }),
    isAuthenticated: () => state.loggedIn,
    isRegistered: () => state.loggedIn,
    isMainInit: () => state.mainInit,
    isMainLoaded: () => state.mainLoaded,
    isMainReady: () => state.mainReady,
    isIdle: () => !state.loggedIn && state.idle,
    isOnline: () => navigator.onLine,
    isMultiDevice: () => true,
    needsUpdate: () => false,
    getPlatform: () => (state.loggedIn ? 'android' : undefined),
    getStreamData: () => ({ mode: state.mode, info: state.info }),
    getMyUserId: () => myWid(),
    getMyUserWid: () => myWid(),
    getMyDeviceId: () => myWid(),
    getMyUserLid: () => {
      if (!state.loggedIn || !state.me) throw new Error('getMeLidUserOrThrow: lid not found');
      return createWid(state.me.lid);
    },
    getBuildConstants: () => ({ VERSION_STR: '2.3000.1038792969', VERSION_PRIMARY: 2,
      VERSION_SECONDARY: 3000, VERSION_TERTIARY: 1038792969,
      PARSED: { PRIMARY: 2, SECONDARY: 3000, TERTIARY: 1038792969 } }),
    logout: asyncApi('conn.logout', async () => {
      if (!state.login) return true; // nothing to log out of (QR screen)
      await http('POST', '/logout', { auth: true, body: { reason: 'user_initiated' }, retries: 3 })
        .catch((err) => log('logout request failed', err));
      handleLogout('user_initiated');
      return true;
    }),
    genLinkDeviceCodeForPhoneNumber: asyncApi('conn.genLinkDeviceCodeForPhoneNumber',
      async (phone, sendPushNotification = true) => {
        if (!phone || typeof phone !== 'string') {
          throw new WPPError('send_the_phone_number_to_connect', 'Send the phone number to connect');
        }
        if (state.loggedIn || state.login) {
          throw new WPPError('cannot_get_code_for_already_authenticated',
            'Cannot get code for already authenticated');
        }
        try {
          const answer = await http('POST', `/pairing/${state.pairing}/code`,
            { body: { phone, push: !!sendPushNotification } });
          state.linkCode = answer.code;
          render();
          return answer.code;
        } catch (err) {
          throw asWPPError(err);
        }
      }),
    setKeepAlive: (enable = true) => {
      if (enable && !state.keepAliveTimer) {
        state.keepAliveTimer = setInterval(() => window.dispatchEvent(new Event('scroll')), 15000);
      } else if (!enable && state.keepAliveTimer) {
        clearInterval(state.keepAliveTimer);
        state.keepAliveTimer = null;
      }
      return !!state.keepAliveTimer;
    },
    markAvailable: asyncApi('conn.markAvailable', async () => true),
    markUnavailable: asyncApi('conn.markUnavailable', async () => true),
  };

  // ======================================================================= WPP.chat

  const defaultSendMessageOptions = {
    detectMentioned: true,
    linkPreview: true,
    markIsRead: true,
    waitForAck: true,
    delay: 0,
  };

  /** assertGetChat: the chat must already be in the local store (chat_not_found). */
  function assertGetChat(chatId) {
    const wid = assertWid(chatId);
    const chat = store.chats.get(resolveLid(wid)._serialized);
    if (!chat) throw new InvalidChat(wid);
    return chat;
  }

  function resolveLid(wid) {
    const phone = wid.isLid() ? store.lids.get(wid._serialized) : undefined;
    return phone ? createWid(phone) : wid;
  }

  async function findChat(chatId) {
    const wid = assertWid(chatId);
    const target = resolveLid(wid);
    const chat = state.loggedIn ? store.chats.get(target._serialized) : undefined;
    if (chat) return chat;
    if (!state.loggedIn || target.isGroup() || target.isLid() || target.server !== 'c.us') {
      throw new Error(`Failed to find or create chat for ${wid}`);
    }
    return newLocalChat(target);
  }

  function ensureGroupChat(groupId, needAdmin) {
    const chat = assertGetChat(groupId);
    if (!chat.id.isGroup()) throw new WPPError('not_a_group', `Chat ${chat.id._serialized} is not a group`);
    const meta = chat.groupMetadata;
    if (needAdmin && !(meta && meta.participants.iAmAdmin())) {
      throw new WPPError('group_you_are_not_admin', `You are not admin in ${chat.id._serialized}`);
    }
    return chat;
  }

  async function getMessageById(ids) {
    if (Array.isArray(ids)) return Promise.all(ids.map((id) => getOneMessage(id)));
    return getOneMessage(ids);
  }

  async function getOneMessage(id) {
    const text = String(id && id._serialized ? id._serialized : id);
    const local = findMessage(text);
    if (local) return local;
    const random = text.includes('_') ? text.split('_')[2] : text;
    try {
      const view = await http('GET', '/message/' + encodeURIComponent(random), { auth: true });
      return storeMessage(msgFromView(view, false));
    } catch (err) {
      throw new WPPError('msg_not_found', `Message ${text} not found`, { id: text });
    }
  }

  function mentionsFor(chat, text, options) {
    if (options.mentionedList !== undefined) {
      if (!Array.isArray(options.mentionedList)) {
        throw new WPPError('mentioned_list_is_not_array', 'The option mentionedList is not an array');
      }
      return options.mentionedList.map((id) => {
        const wid = assertWid(id);
        if (!wid.isUser()) throw new WPPError('mentioned_is_not_user', `Mentioned ${wid} is not an user`, { id });
        return resolveLid(wid);
      });
    }
    if (!options.detectMentioned || !chat.id.isGroup() || !chat.groupMetadata || !text) return [];
    const participants = chat.groupMetadata.participants.getModelsArray();
    if (/(^|\s)@all\b/.test(text)) return participants.map((p) => p.id);
    const found = [];
    for (const match of String(text).matchAll(/@(\d{5,})/g)) {
      const p = participants.find((x) => x.id.user === match[1]);
      if (p && !found.some((w) => w.equals(p.id))) found.push(p.id);
    }
    return found;
  }

  function newOwnKey(chat, messageId) {
    if (messageId) {
      const key = typeof messageId === 'string' ? MsgKey.fromString(messageId) : messageId;
      if (!key.fromMe) throw new WPPError('message_key_is_not_from_me', 'Message key is not from me');
      if (!chat.id.equals(key.remote)) {
        throw new WPPError('message_key_remote_id_is_not_same_of_chat',
          'Message key remote ID is not same of chat');
      }
      return new MsgKey({ fromMe: true, remote: chat.id, id: key.id,
        participant: chat.id.isGroup() ? state.me.lid : undefined });
    }
    return new MsgKey({ fromMe: true, remote: chat.id, id: newMessageId(),
      participant: chat.id.isGroup() ? state.me.lid : undefined });
  }

  /**
   * The send pipeline shared by every send function: build the model, emit
   * chat.new_message (ack 0), hand it to the server, emit ack 1, resolve per waitForAck.
   */
  async function sendMessage(chatId, attrs, options, extra) {
    options = Object.assign({}, defaultSendMessageOptions, options || {});
    const chat = await findChat(chatId);
    const key = newOwnKey(chat, options.messageId);
    const quoted = options.quotedMsg
      ? (options.quotedMsg instanceof MsgModel ? options.quotedMsg : await getMessageById(options.quotedMsg))
      : null;
    const mentions = mentionsFor(chat, attrs.body || attrs.caption, options);
    if (options.markIsRead && chat.unreadCount > 0) await markChatRead(chat);
    if (options.delay > 0) {
      await sleep(options.delay); // "typing…" for that long (presence is not simulated)
    }
    const from = chat.id.isGroup() || chat.id.isLid() ? createWid(state.me.lid) : createWid(state.me.wid);
    const msg = new MsgModel(Object.assign({
      id: key, t: unixTime(), from, to: chat.id, self: 'out', isNewMsg: true, local: true,
      ack: 0, star: false, isForwarded: false, mentionedJidList: mentions,
      notifyName: state.me.name, author: chat.id.isGroup() ? from : undefined,
    }, attrs));
    if (quoted) setQuoted(msg, quoted.id);
    storeMessage(msg);
    chat.t = msg.t;
    ev.emit('chat.new_message', msg);
    render();
    const delivery = deliver(msg, chat, quoted, mentions);
    if (!options.waitForAck) {
      delivery.catch(() => {});
      return Object.assign({ id: key._serialized, ack: 0 }, extra || { from: String(from), to: String(chat.id) },
        { sendMsgResult: null });
    }
    const result = await delivery;
    return Object.assign({ id: key._serialized, ack: msg.ack }, extra || { from: String(from), to: String(chat.id) },
      { sendMsgResult: result });
  }

  async function deliver(msg, chat, quoted, mentions) {
    const payload = {
      id: msg.id.id,
      to: chat.id._serialized,
      type: msg.type,
      body: msg.body,
      caption: msg.caption,
      filename: msg.filename,
      mimetype: msg.mimetype,
      size: msg.size,
      lat: msg.lat,
      lng: msg.lng,
      loc: msg.loc,
      quotedId: quoted ? quoted.id.id : null,
      mentions: mentions.map((w) => w.user),
    };
    try {
      // Retrying is safe: the server treats a known message id as the same send.
      const answer = await http('POST', '/send', { body: payload, auth: true, retries: 6 });
      msg.t = answer.t;
      setAck(msg, 1);
      return { messageSendResult: 'OK', t: answer.t, count: null };
    } catch (err) {
      log('send failed', err);
      setAck(msg, -1);
      return { messageSendResult: err.status ? 'ERROR_UNKNOWN' : 'ERROR_NETWORK' };
    }
  }

  function setAck(msg, ack) {
    msg.ack = ack;
    if (state.fullReady) ev.emit('chat.msg_ack_change', { ack, chat: msg.id.remote, ids: [msg.id] });
  }

  async function markChatRead(chat) {
    const before = chat.unreadCount;
    await http('POST', '/read', { body: { chat: chat.id._serialized }, auth: true, retries: 3 });
    chat.unreadCount = 0;
    render();
    return before;
  }

  const DATA_URL_RE = /^data:([^;,]*)((?:;[^;,]*)*?);base64,(.*)$/s;
  const BASE64_RE = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

  function decodeBase64(text) {
    if (!BASE64_RE.test(text)) throw 'invalid_data_url'; // the bare string, like wa-js
    try {
      const binary = atob(text.replace(/\s/g, ''));
      const bytes = new Uint8Array(binary.length);
      for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
      return bytes;
    } catch (e) {
      throw 'invalid_data_url';
    }
  }

  const SIGNATURES = [
    [[0x89, 0x50, 0x4e, 0x47], 'image/png', 'png'],
    [[0xff, 0xd8, 0xff], 'image/jpeg', 'jpg'],
    [[0x47, 0x49, 0x46, 0x38], 'image/gif', 'gif'],
    [[0x42, 0x4d], 'image/bmp', 'bmp'],
    [[0x25, 0x50, 0x44, 0x46], 'application/pdf', 'pdf'],
    [[0x4f, 0x67, 0x67, 0x53], 'audio/ogg', 'ogg'],
    [[0x49, 0x44, 0x33], 'audio/mpeg', 'mp3'],
    [[0x50, 0x4b, 0x03, 0x04], 'application/zip', 'zip'],
  ];

  function sniff(bytes) {
    const starts = (sig, offset = 0) => sig.every((b, i) => bytes[offset + i] === b);
    if (starts([0x52, 0x49, 0x46, 0x46]) && starts([0x57, 0x45, 0x42, 0x50], 8)) {
      return { mime: 'image/webp', ext: 'webp' };
    }
    if (starts([0x66, 0x74, 0x79, 0x70], 4)) return { mime: 'video/mp4', ext: 'mp4' };
    for (const [sig, mime, ext] of SIGNATURES) if (starts(sig)) return { mime, ext };
    return null;
  }

  const EXT_BY_MIME = { 'image/jpeg': 'jpg', 'image/png': 'png', 'image/gif': 'gif',
    'image/webp': 'webp', 'application/pdf': 'pdf', 'text/plain': 'txt', 'audio/ogg': 'ogg',
    'audio/mpeg': 'mp3', 'video/mp4': 'mp4' };

  async function contentBytes(content) {
    if (typeof content === 'string') {
      if (/^https?:\/\//.test(content)) {
        const response = await fetch(content);
        const blob = await response.blob();
        return { bytes: new Uint8Array(await blob.arrayBuffer()), mime: blob.type || null };
      }
      const match = DATA_URL_RE.exec(content);
      if (match) return { bytes: decodeBase64(match[3]), mime: match[1] || null };
      return { bytes: decodeBase64(content), mime: null };
    }
    if (content instanceof Blob) {
      return { bytes: new Uint8Array(await content.arrayBuffer()), mime: content.type || null,
        name: content.name };
    }
    throw 'invalid_data_url';
  }

  const UPLOAD_LIMITS = { image: 16, video: 16, audio: 16, ptt: 16, sticker: 1, document: 100 };

  async function sendFile(chatId, content, options) {
    options = options || {};
    const file = await contentBytes(content);
    const sniffed = sniff(file.bytes);
    let filename = options.filename || file.name;
    let mimetype = options.mimetype || file.mime;
    if (!filename || !mimetype) {
      if (sniffed) {
        filename = filename || `${sniffed.mime.split('/')[0]}.${sniffed.ext}`;
        mimetype = mimetype || sniffed.mime;
      }
      filename = filename || 'unknown';
      mimetype = mimetype || 'application/octet-stream';
    }
    let type = options.type && options.type !== 'auto-detect' ? options.type : null;
    if (!type) {
      const major = mimetype.split('/')[0];
      type = ['image', 'video', 'audio'].includes(major) ? major : 'document';
    }
    if (type === 'audio' && options.isPtt) type = 'ptt';
    const limit = (UPLOAD_LIMITS[type] || 100) * 1024 * 1024;
    if (file.bytes.length > limit) {
      throw new WPPError('file_too_large',
        `File size ${file.bytes.length} B exceeds the upload limit of ${limit} B for ${type} files`,
        { fileSize: file.bytes.length, limit, mediaType: type });
    }
    const byUser = typeof options.caption === 'string' && options.caption !== '';
    const attrs = {
      type,
      body: '',
      caption: byUser ? options.caption : filename,
      isCaptionByUser: byUser,
      filename,
      mimetype,
      size: file.bytes.length,
    };
    if (!filename.includes('.') && EXT_BY_MIME[mimetype] && !options.filename) {
      attrs.filename = `${filename}.${EXT_BY_MIME[mimetype]}`;
    }
    return sendMessage(chatId, attrs, options, {});
  }

  const chat = {
    defaultSendMessageOptions,
    get: (chatId) => {
      const wid = assertWid(chatId);
      return store.chats.get(resolveLid(wid)._serialized);
    },
    find: asyncApi('chat.find', async (chatId) => findChat(chatId)),
    list: asyncApi('chat.list', async (options = {}) => {
      let chats = Array.from(store.chats.values()).sort((a, b) => (b.t || 0) - (a.t || 0));
      if (options.onlyUsers) chats = chats.filter((c) => c.id.isUser());
      if (options.onlyGroups) chats = chats.filter((c) => c.id.isGroup());
      if (options.onlyWithUnreadMessage) chats = chats.filter((c) => c.unreadCount !== 0);
      if (options.onlyArchived) chats = chats.filter((c) => c.archive);
      if (options.onlyCommunities || options.onlyNewsletter) chats = [];
      if (options.id) {
        const index = chats.findIndex((c) => c.id.equals(String(options.id)));
        chats = options.direction === 'before' ? chats.slice(0, Math.max(0, index))
          : chats.slice(index + 1);
      }
      if (options.count !== undefined && options.count >= 0) chats = chats.slice(0, options.count);
      return chats;
    }),
    getMessages: asyncApi('chat.getMessages', async (chatId, options = {}) => {
      const chatModel = assertGetChat(chatId);
      const count = options.count === undefined ? 20 : options.count;
      const direction = options.direction === 'after' ? 'after' : 'before';
      let list = chatModel.msgs.getModelsArray();
      let anchor = list.length;
      if (options.id) {
        anchor = list.findIndex((m) => m.id._serialized === String(options.id));
        if (anchor < 0) throw new WPPError('msg_not_found', `Message ${options.id} not found`, { id: options.id });
      }
      if (direction === 'before') {
        const needed = count < 0 ? Infinity : count;
        if (anchor < needed) {
          await loadOlder(chatModel, list[0], count < 0 ? -1 : needed - anchor);
          list = chatModel.msgs.getModelsArray();
          anchor = options.id ? list.findIndex((m) => m.id._serialized === String(options.id)) : list.length;
        }
        list = list.slice(count < 0 ? 0 : Math.max(0, anchor - count), anchor);
      } else {
        list = list.slice(anchor + 1, count < 0 ? undefined : anchor + 1 + count);
      }
      if (options.onlyUnread) list = list.slice(-Math.max(0, chatModel.unreadCount));
      if (options.media) list = list.filter((m) => m.isMedia);
      return list;
    }),
    getMessageById: asyncApi('chat.getMessageById', (ids) => getMessageById(ids)),
    sendTextMessage: asyncApi('chat.sendTextMessage', async (chatId, content, options = {}) =>
      sendMessage(chatId, { type: 'chat', body: String(content) }, options)),
    sendFileMessage: asyncApi('chat.sendFileMessage', (chatId, content, options) =>
      sendFile(chatId, content, options)),
    sendLocationMessage: asyncApi('chat.sendLocationMessage', async (chatId, options = {}) => {
      const lat = parseFloat(options.lat);
      const lng = parseFloat(options.lng);
      const loc = [options.name, options.address].filter(Boolean).join('\n') || undefined;
      return sendMessage(chatId, { type: 'location', body: '', lat, lng, loc, clientUrl: options.url },
        options);
    }),
    sendReactionToMessage: asyncApi('chat.sendReactionToMessage', async (msgId, reaction) => {
      const target = msgId instanceof MsgModel ? msgId : await getMessageById(msgId);
      const text = reaction || '';
      const remote = target.id.remote;
      const participant = remote.isGroup() ? state.me.lid : undefined;
      const key = new MsgKey({ fromMe: true, remote, id: newMessageId(), participant });
      try {
        await http('POST', '/send', { auth: true, retries: 6, body: {
          id: key.id, to: remote._serialized, type: 'reaction', body: text, quotedId: target.id.id,
        } });
      } catch (err) {
        return { sendMsgResult: 'ERROR_UNKNOWN' };
      }
      return { sendMsgResult: 'OK' };
    }),
    markIsRead: asyncApi('chat.markIsRead', async (chatId) => {
      const chatModel = assertGetChat(chatId);
      const before = await markChatRead(chatModel);
      return { wid: chatModel.id, unreadCount: before };
    }),
    markIsComposing: asyncApi('chat.markIsComposing', async (chatId, duration) => {
      assertGetChat(chatId);
      if (duration) await sleep(duration);
    }),
    markIsPaused: asyncApi('chat.markIsPaused', async (chatId) => {
      assertGetChat(chatId);
    }),
    markIsRecording: asyncApi('chat.markIsRecording', async (chatId, duration) => {
      assertGetChat(chatId);
      if (duration) await sleep(duration);
    }),
    generateMessageID: asyncApi('chat.generateMessageID', async (chatId) =>
      newOwnKey(await findChat(chatId))),
  };

  async function loadOlder(chatModel, oldest, count) {
    const before = oldest ? `&before=${oldest.id.id}` : '';
    const answer = await http('GET',
      `/history?chat=${encodeURIComponent(chatModel.id._serialized)}&count=${count}${before}`,
      { auth: true, retries: 3 });
    for (const view of answer.messages) {
      if (!store.msgs.has(view.key._serialized)) storeMessage(msgFromView(view, false));
    }
  }

  // ======================================================================= WPP.contact

  async function queryWidExists(contactId) {
    const wid = assertWid(contactId);
    const target = resolveLid(wid);
    if (!target.isUser() || target.isLid()) return null;
    const known = store.contacts.get(target._serialized);
    if (known) {
      return { wid: known.id, biz: !!known.isBusiness,
        lid: known.__lid ? createWid(known.__lid) : undefined };
    }
    try {
      const answer = await http('GET', '/exists?phone=' + encodeURIComponent(target.user));
      const r = answer.result;
      return r ? { wid: createWid(r.wid), biz: !!r.biz, lid: createWid(r.lid) } : null;
    } catch (e) {
      return null; // never rejects except for invalid_wid
    }
  }

  const contact = {
    list: asyncApi('contact.list', async (options = {}) => {
      let contacts = Array.from(store.contacts.values());
      if (options.onlyMyContacts) contacts = contacts.filter((c) => c.isMyContact);
      return contacts;
    }),
    get: asyncApi('contact.get', async (contactId) => {
      const wid = resolveLid(assertWid(contactId));
      return store.contacts.get(wid._serialized);
    }),
    queryWidExists: asyncApi('contact.queryWidExists', queryWidExists),
    queryExists: asyncApi('contact.queryExists', queryWidExists),
  };

  // ======================================================================= WPP.group

  const ADD_MESSAGES = {
    200: 'OK',
    403: "Can't join this group because the number was restricted it.",
    409: "Can't join this group because the number is already a member of it.",
    421: 'Member not added, awaiting approval!',
  };

  function groupChatFromView(view) {
    const existing = store.chats.get(view.id);
    return upsertChat({
      id: view.id, name: view.subject, t: existing ? existing.t : view.creation,
      unreadCount: existing ? existing.unreadCount : 0, archive: false, pin: 0,
      isReadOnly: !view.participants.some((p) => state.me.wid.equals(p.id)),
      groupMetadata: view,
    });
  }

  const group = {
    getAllGroups: asyncApi('group.getAllGroups', async () =>
      Array.from(store.chats.values()).filter((c) => c.id.isGroup() && !c.isReadOnly)),
    create: asyncApi('group.create', async (name, participants, parentGroup) => {
      if (!state.loggedIn) throw new Error('Not logged in');
      const list = (Array.isArray(participants) ? participants : [participants]).map(assertWid);
      const me = state.me.wid;
      const wids = [];
      for (const wid of list) {
        if (me.equals(wid)) continue;
        const known = store.contacts.get(resolveLid(wid)._serialized);
        if (known) {
          wids.push(known.id);
          continue;
        }
        const exists = await queryWidExists(wid);
        if (!exists) throw new WPPError('participant_not_exists', 'Participant not exists', { id: wid });
        if (!me.equals(exists.wid)) wids.push(exists.wid);
      }
      let view;
      try {
        view = await http('POST', '/groups', { auth: true, body: {
          name, participants: wids.map((w) => w.user), parentGroup: parentGroup ? String(parentGroup) : null,
        } });
      } catch (err) {
        throw asWPPError(err);
      }
      groupChatFromView(view);
      render();
      return { gid: createWid(view.id), participants: view.participantResults };
    }),
    addParticipants: asyncApi('group.addParticipants', async (groupId, participants) => {
      const groupChat = ensureGroupChat(groupId, true);
      const wids = (Array.isArray(participants) ? participants : [participants]).map(assertWid)
        .map(resolveLid);
      let answer;
      try {
        answer = await http('POST', `/groups/${groupChat.id._serialized}/participants`,
          { auth: true, body: { add: wids.map((w) => w.user) } });
      } catch (err) {
        throw new WPPError('group_add_participant_error', 'Failed to add participants to the group',
          { groupId, participantsIds: participants });
      }
      groupChatFromView(answer.group);
      const result = {};
      for (const [wid, code] of Object.entries(answer.results)) {
        result[wid] = { wid, code, message: ADD_MESSAGES[code] || "Can't Join., unknown error",
          invite_code: null, invite_code_exp: null };
      }
      return result;
    }),
    removeParticipants: asyncApi('group.removeParticipants', async (groupId, participants) => {
      const groupChat = ensureGroupChat(groupId, true);
      const wids = (Array.isArray(participants) ? participants : [participants]).map(assertWid)
        .map(resolveLid);
      const members = groupChat.groupMetadata.participants;
      const valid = wids.filter((w) => members.get(w));
      if (!valid.length) {
        throw new WPPError('not_valid_group_participants',
          `No valid participants found for the group ${groupId}`);
      }
      if (valid.some((w) => !members.canRemove(w))) {
        throw new WPPError('group_participant_is_not_a_group_member',
          `Group ${groupChat.id._serialized}: Participant can not be removed`);
      }
      const answer = await http('POST', `/groups/${groupChat.id._serialized}/participants`,
        { auth: true, body: { remove: valid.map((w) => w.user) } }).catch((err) => {
        throw asWPPError(err);
      });
      groupChatFromView(answer.group);
    }),
    getParticipants: asyncApi('group.getParticipants', async (groupId) => {
      const groupChat = ensureGroupChat(groupId, false);
      return groupChat.groupMetadata ? groupChat.groupMetadata.participants.getModelsArray() : [];
    }),
    iAmAdmin: asyncApi('group.iAmAdmin', async (groupId) => {
      const groupChat = ensureGroupChat(groupId, false);
      return !!(groupChat.groupMetadata && groupChat.groupMetadata.participants.iAmAdmin());
    }),
  };

  // ======================================================================= WPP.util

  function blobToBase64(blob) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    });
  }

  const util = {
    createWid,
    WPPError,
    blobToBase64,
    isWid: (x) => x instanceof Wid,
  };

  // ======================================================================= config

  const CONFIG_DEFAULTS = {
    deviceName: false,
    liveLocationLimit: 10,
    disableGoogleAnalytics: false,
    googleAnalyticsId: null,
    googleAnalyticsUserProperty: {},
    linkPreviewApiServers: null,
    poweredBy: 'WA-JS',
    sendStatusToDevice: false,
    syncAllStatus: true,
  };

  function makeConfig() {
    const values = Object.assign({}, CONFIG_DEFAULTS, window.WPPConfig || {});
    const proxy = new Proxy(values, {
      set(target, name, value) {
        target[name] = value;
        ev.emit('config.update', { key: name, value });
        return true;
      },
    });
    window.WPPConfig = proxy;
    return proxy;
  }

  // ======================================================================= UI

  function $(id) {
    return document.getElementById(id);
  }

  function setText(id, text) {
    const el = $(id);
    if (el && el.textContent !== text) el.textContent = text;
  }

  /** Show what a person looking at WhatsApp Web would see: the QR or the chat list. */
  function render() {
    if (!document.body) return;
    const screen = state.loggedIn ? 'main' : state.login ? 'syncing' : 'qr';
    document.body.dataset.screen = screen;
    document.body.dataset.mode = state.mode || '';
    setText('status', statusLine());
    renderQr();
    if (state.loggedIn) renderMain();
  }

  function statusLine() {
    if (state.loggingOut || state.login && !state.loggedIn) return state.statusText;
    if (state.loggedIn) {
      const me = state.me;
      return `Connected as ${me.name} (+${me.wid.user}) · stream ${state.mode}` +
        (state.info && state.info !== 'NORMAL' ? ` (${state.info})` : '');
    }
    if (!state.injected && !state.authCode) return state.statusText;
    if (state.idle) return 'QR code expired. Click "Reload QR code".';
    return 'To use WhatsApp on your computer: scan the QR code with your phone.';
  }

  function renderQr() {
    const box = $('qr-box');
    if (!box) return;
    const code = !state.loggedIn && !state.idle && state.authCode ? state.authCode.fullCode : '';
    if (box.dataset.ref !== code) {
      box.dataset.ref = code;
      const img = $('qr-img');
      if (img) {
        if (code) img.src = '/_sandbox/qr.png?data=' + encodeURIComponent(code);
        else img.removeAttribute('src');
        img.hidden = !code;
      }
      setText('qr-text', code);
    }
    const reload = $('qr-reload');
    if (reload) reload.hidden = !(state.idle && !state.loggedIn);
    setText('link-code', state.linkCode ? `Pairing code: ${state.linkCode.slice(0, 4)}-${state.linkCode.slice(4)}` : '');
  }

  let renderScheduled = false;

  function renderMain() {
    // Chat lists can be long: redraw at most once per frame.
    if (renderScheduled) return;
    renderScheduled = true;
    requestAnimationFrame(() => {
      renderScheduled = false;
      const list = $('chat-list');
      if (!list) return;
      const chats = Array.from(store.chats.values()).sort((a, b) => (b.t || 0) - (a.t || 0)).slice(0, 30);
      list.replaceChildren(...chats.map(chatItem));
      setText('me', `${state.me.name} · +${state.me.wid.user} · ${store.contacts.size} contacts · ${store.chats.size} chats`);
    });
  }

  function chatItem(chatModel) {
    const li = document.createElement('li');
    const last = chatModel.msgs._models[chatModel.msgs._models.length - 1];
    const title = document.createElement('strong');
    title.textContent = chatModel.formattedTitle || String(chatModel.id);
    const preview = document.createElement('span');
    preview.textContent = last ? (last.id.fromMe ? '✓ ' : '') + (last.body || last.caption || `[${last.type}]`) : '';
    li.append(title, preview);
    if (chatModel.unreadCount > 0) {
      const badge = document.createElement('em');
      badge.textContent = String(chatModel.unreadCount);
      li.append(badge);
    }
    return li;
  }

  function bindUi() {
    const reload = $('qr-reload');
    if (reload) reload.addEventListener('click', () => conn.refreshQR());
    render();
  }

  // ======================================================================= WPP

  const WPP = {
    __sandbox: true,
    version: '4.6.0',
    supportedWhatsappWeb: '>=2.3000.1038792969-alpha',
    license: 'Apache-2.0',
    dev: undefined,
    ev,
    conn,
    chat,
    contact,
    group,
    util,
    loader: {
      loaderType: 'meta',
      onInjected: futureOnly('loader.injected'),
      onReady: futureOnly('loader.ready'),
      onFullReady: futureOnly('loader.full_ready'),
      get isInjected() { return state.injected; },
      get isReady() { return state.ready; },
      get isFullReady() { return state.fullReady; },
    },
    whatsapp: { MsgKey, Wid, WidFactory: { createWid: (x) => assertWid(x) } },
  };
  for (const name of ['blocklist', 'call', 'cart', 'catalog', 'community', 'indexdb', 'labels',
    'lists', 'newsletter', 'order', 'privacy', 'status']) {
    WPP[name] = {};
  }
  WPP.profile = {
    getMyProfileName: () => (state.loggedIn && state.me ? state.me.name : undefined),
  };
  for (const name of ['on', 'off', 'once', 'many', 'onAny', 'offAny', 'emit', 'waitFor',
    'removeAllListeners', 'listeners', 'listenerCount', 'eventNames', 'prependListener']) {
    WPP[name] = ev[name].bind(ev);
  }
  WPP.addListener = WPP.on;
  WPP.removeListener = WPP.off;
  Object.defineProperty(WPP, 'isInjected', { get: () => state.injected, enumerable: true });
  Object.defineProperty(WPP, 'isReady', { get: () => state.ready, enumerable: true });
  Object.defineProperty(WPP, 'isFullReady', { get: () => state.fullReady, enumerable: true });

  /** loader.onX(listener, delay): future events only, as in wa-js (WPP-SURFACE 1.4). */
  function futureOnly(eventName) {
    return (listener, delay = 0) => {
      ev.once(eventName, () => setTimeout(listener, delay));
    };
  }

  window.WPP = WPP;
  WPP.config = makeConfig();

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', bindUi);
  else bindUi();
  window.addEventListener('pagehide', () => {
    if (state.pairing && !state.login) navigator.sendBeacon(`${API}/pairing/${state.pairing}/close`);
  });

  (async function start() {
    for (let attempt = 0; ; attempt++) {
      try {
        await boot();
        return;
      } catch (err) {
        console.error('[sandbox] boot failed', err);
        state.statusText = 'Cannot reach the sandbox server; retrying…';
        render();
        await sleep(Math.min(5000, 500 * 2 ** attempt));
        if (state.injected) return location.reload(); // a half-booted document: start clean
      }
    }
  })();
})();
