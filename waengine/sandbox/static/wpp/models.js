/* Backbone-like models and collections: contacts, chats, groups, messages. */

import { chat } from './chat.js';
import { contact } from './contact.js';
import { WPPError } from './errors.js';
import { MsgKey, createWid } from './ids.js';
import { state } from './state.js';
import { contactFor, store } from './stores.js';

const isGroupWid = (wid) => !!wid && String(wid).endsWith('@g.us');

/** A list of models with WhatsApp's collection helpers. */
export class Collection {
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
export class Model {
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

export function hidden(obj, name, value) {
  Object.defineProperty(obj, name, { value, writable: true, configurable: true, enumerable: false });
}

export class ContactModel extends Model {
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

  // wa-js 4.6.0 installs these as getters returning functions:
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

export class ParticipantModel extends Model {
  get contact() {
    return contactFor(this.id);
  }
}
ParticipantModel.props = ['id', 'isAdmin', 'isSuperAdmin'];

export class ParticipantCollection extends Collection {
  // in a LID-addressed group the account is listed by its @lid
  mine() {
    return state.me && (this.get(state.me.wid) || this.get(state.me.lid));
  }

  iAmAdmin() {
    const me = this.mine();
    return !!(me && me.isAdmin);
  }

  iAmSuperAdmin() {
    const me = this.mine();
    return !!(me && me.isSuperAdmin);
  }

  canRemove(wid) {
    const p = this.get(wid);
    return !!p && !p.isSuperAdmin;
  }

  canPromote(participant) {
    const p = this.get(participant && participant.id ? participant.id : participant);
    return !!p && !p.isAdmin && this.iAmAdmin();
  }

  canDemote(participant) {
    const p = this.get(participant && participant.id ? participant.id : participant);
    return !!p && p.isAdmin && !p.isSuperAdmin && this.iAmAdmin();
  }
}

/** WhatsApp's rules as its GroupMetadata model states them: `restrict` keeps the subject,
 * description and disappearing messages to admins; other settings are admins' only. */
export class GroupMetadataModel extends Model {
  _iAmMember() {
    return !!(this.participants && state.me && this.participants.get(state.me.wid));
  }

  _iAmAdmin() {
    return !!(this.participants && this.participants.iAmAdmin());
  }

  canSetSubject() {
    return this._iAmMember() && (!this.restrict || this._iAmAdmin());
  }

  canSetDescription() {
    return this.canSetSubject();
  }

  canSetEphemeralSetting() {
    return this.canSetSubject();
  }

  canSetGroupProperty() {
    return this._iAmAdmin();
  }
}
GroupMetadataModel.props = ['id', 'subject', 'desc', 'owner', 'creation', 'size', 'announce',
  'restrict', 'isLidAddressingMode', 'memberAddMode', 'groupType', 'isParentGroup', 'parentGroup',
  'defaultSubgroup', 'joinedSubgroups'];

export class ChatModel extends Model {
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

export const MEDIA_TYPES = ['image', 'video', 'audio', 'ptt', 'sticker', 'document'];

export class MsgModel extends Model {
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

  // wa-js 4.6.0 installs this getter on MsgModel.prototype: getQuotedMsgKey(this), which throws
  // message_not_have_a_reply on every message that is not a reply.
  get quotedMsgId() {
    if (!this.quotedStanzaID) {
      throw new WPPError('message_not_have_a_reply', `Message ${this.id} does not have a reply`,
        { id: this.id });
    }
    const remote = this.quotedRemoteJid ? this.quotedRemoteJid : this.id.remote;
    const me = state.me && state.me.wid ? createWid(state.me.wid) : null;
    const fromMe = !!me && me.equals(this.quotedParticipant);
    const wid = createWid(remote);
    const keepParticipant = isGroupWid(this.from) || isGroupWid(this.to) || wid.isStatusV3();
    return new MsgKey({ id: this.quotedStanzaID, fromMe, remote: wid,
      participant: keepParticipant ? this.quotedParticipant : undefined });
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
  'quotedRemoteJid', 'quotedParticipant', 'mentionedJidList', 'isCaptionByUser',
  'latestEditMsgKey', 'latestEditSenderTimestampMs', 'pollName', 'pollOptions',
  'pollSelectableOptionsCount', 'vcardFormattedName', 'vcardList', 'recipients', 'font', 'backgroundColor'];
