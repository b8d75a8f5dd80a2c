/* Wid and MsgKey: WhatsApp ids and message keys, parsed and printed as wa-js does. */

import { newMessageId } from './base.js';
import { InvalidWid } from './errors.js';
import { $ } from './ui.js';

export const WID_RE = /^([\w.+-]+?)(?::(\d+))?@(c\.us|g\.us|lid|broadcast|newsletter|bot|s\.whatsapp\.net)$/;

export class Wid {
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

  // WhatsApp's Wid has these as statics too, taking a string or a Wid; wa-js calls them
  // (getQuotedMsgKey: Wid.isGroup(msg.from), Wid.isStatusV3(remote)).
  static equals(a, b) {
    return String(a && a._serialized ? a._serialized : a) === String(b && b._serialized ? b._serialized : b);
  }

  static isGroup(wid) { return !!createWid(wid) && createWid(wid).isGroup(); }

  static isLid(wid) { return !!createWid(wid) && createWid(wid).isLid(); }

  static isUser(wid) { return !!createWid(wid) && createWid(wid).isUser(); }

  static isBroadcast(wid) { return !!createWid(wid) && createWid(wid).isBroadcast(); }

  static isStatusV3(wid) { return String(wid) === 'status@broadcast'; }

  static isStatus(wid) { return String(wid) === 'status@broadcast'; }
}

/** WPP.util.createWid rules (wa-js 4.6.0); undefined when not a wid. */
export function createWid(value) {
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

export function assertWid(value) {
  const wid = createWid(value);
  if (!wid) throw new InvalidWid(value);
  return wid;
}

export class MsgKey {
  // WhatsApp's two forms: {fromMe, remote, id, participant}, or {from, to, id, participant,
  // selfDir} as wa-js's generateMessageID builds it ('out': ours, the chat is `to`).
  constructor({ fromMe, remote, id, participant, from, to, selfDir }) {
    if (selfDir !== undefined) {
      fromMe = selfDir === 'out';
      remote = fromMe ? to : from;
    }
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

export function keyFromView(view) {
  return new MsgKey(view);
}
