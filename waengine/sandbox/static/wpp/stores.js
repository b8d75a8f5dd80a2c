/* The page's local copy of contacts, chats and messages, fed by sync and events. */

import { unixTime } from './base.js';
import { chat } from './chat.js';
import { contact } from './contact.js';
import { createWid, keyFromView } from './ids.js';
import { ChatModel, ContactModel, GroupMetadataModel, MsgModel, ParticipantCollection, ParticipantModel, hidden } from './models.js';
import { NewsletterMetadataModel } from './newsletter.js';
import { state } from './state.js';

export const store = {
  contacts: new Map(), // wid -> ContactModel
  chats: new Map(), // wid -> ChatModel
  msgs: new Map(), // key string -> MsgModel
  msgsById: new Map(), // random id -> MsgModel
  lids: new Map(), // lid wid -> phone wid (WhatsApp's lidPnCache)
  pns: new Map(), // phone wid -> lid wid
};

export function resetStores() {
  for (const map of Object.values(store)) map.clear();
}

/** ContactStore.get is exact: an @lid id finds the @lid contact, never the phone's. */
export function contactFor(wid) {
  const text = String(wid);
  return store.contacts.get(text) || new ContactModel({ id: createWid(text) });
}

export function upsertContact(view) {
  const contact = upsertOneContact(view.id, view);
  if (view.lid && view.lid !== view.id) { // a LID-only contact maps to no phone (yet)
    store.lids.set(view.lid, view.id);
    store.pns.set(view.id, view.lid);
    // a LID-addressed account is in the ContactStore twice: as its phone id and its @lid
    if (view.lidAddressed) upsertOneContact(view.lid, view);
  }
  return contact;
}

function upsertOneContact(id, view) {
  let contact = store.contacts.get(id);
  if (!contact) {
    contact = new ContactModel({ id: createWid(id), type: 'in' });
    store.contacts.set(id, contact);
  }
  contact.name = view.name || undefined;
  contact.shortName = view.shortName || undefined;
  contact.pushname = view.pushname || undefined;
  contact.isBusiness = !!view.isBusiness;
  contact.isEnterprise = false;
  contact.verifiedName = view.verifiedName || undefined;
  contact.labels = [];
  hidden(contact, '__isMyContact', !!view.isMyContact);
  if (view.lid) hidden(contact, '__lid', view.lid);
  return contact;
}

export function groupMetadataFrom(view) {
  const meta = new GroupMetadataModel({
    id: createWid(view.id),
    subject: view.subject,
    desc: view.desc || undefined,
    owner: createWid(view.owner),
    creation: view.creation,
    size: view.participants.length,
    announce: !!view.announce,
    restrict: !!view.restrict,
    isLidAddressingMode: view.isLidAddressingMode === true,
    memberAddMode: 'admin_add',
    // communities (network/communities.py): the parent, its announcement and linked groups
    groupType: view.groupType || 'DEFAULT',
    isParentGroup: view.isParentGroup === true,
    parentGroup: view.parentGroup ? createWid(view.parentGroup) : undefined,
    defaultSubgroup: view.defaultSubgroup === true,
    joinedSubgroups: (view.joinedSubgroups || []).map(createWid),
  });
  hidden(meta, 'participants', new ParticipantCollection(view.participants.map((p) =>
    new ParticipantModel({ id: createWid(p.id), isAdmin: p.isAdmin, isSuperAdmin: p.isSuperAdmin }))));
  return meta;
}

export function upsertChat(view) {
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
  chat.muteExpiration = view.muteExpiration || 0;
  chat.labels = (view.labels || []).map(String);
  if (view.groupMetadata) chat.groupMetadata = groupMetadataFrom(view.groupMetadata);
  if (view.newsletterMetadata) hidden(chat, 'newsletterMetadata', new NewsletterMetadataModel(view.newsletterMetadata));
  return chat;
}

export function newLocalChat(wid) {
  const chat = new ChatModel({ id: wid, t: unixTime(), unreadCount: 0, archive: false, pin: 0,
    isReadOnly: false, muteExpiration: 0, labels: [] });
  store.chats.set(wid._serialized, chat);
  return chat;
}

export function msgFromView(view, isNew) {
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
    star: view.star === true,
    isForwarded: view.isForwarded === true,
    mentionedJidList: (view.mentionedJidList || []).map(createWid),
  };
  for (const name of ['caption', 'filename', 'mimetype', 'size', 'lat', 'lng', 'loc', 'pollName',
    'pollOptions', 'pollSelectableOptionsCount', 'vcardFormattedName', 'vcardList', 'font',
    'backgroundColor']) {
    if (view[name] !== undefined && view[name] !== null) attrs[name] = view[name];
  }
  if (view.subtype) attrs.subtype = view.subtype; // notifications: gp2 add/remove, call_log miss
  if (view.recipients) attrs.recipients = view.recipients.map(createWid); // gp2: who was added/removed
  if (view.editedAt) attrs.latestEditSenderTimestampMs = view.editedAt * 1000;
  const msg = new MsgModel(attrs);
  msg.__pinnedUntil = view.pinnedUntil || null; // WhatsApp keeps pins in PinInChatStore
  if (view.quotedKey) setQuoted(msg, keyFromView(view.quotedKey));
  return msg;
}

export function setQuoted(msg, key) {
  msg.quotedStanzaID = key.id;
  msg.quotedRemoteJid = key.remote;
  msg.quotedParticipant = key.participant || (key.fromMe ? state.me.wid : key.remote);
}

/** Put a message in the stores (replacing an older copy); return the stored model. */
export function storeMessage(msg) {
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

export function applySnapshot(snapshot) {
  resetStores();
  for (const view of snapshot.contacts) upsertContact(view);
  for (const view of snapshot.chats) upsertChat(view);
}
