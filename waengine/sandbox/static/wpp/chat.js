/* WPP.chat: chats and messages (send text, files, locations, reactions; read). */

import { API, log, newMessageId, sleep, unixTime } from './base.js';
import { InvalidChat, WPPError } from './errors.js';
import { ev } from './events.js';
import { group } from './group.js';
import { MsgKey, assertWid, createWid } from './ids.js';
import { ChatModel, MsgModel } from './models.js';
import { state, streamFlowing } from './state.js';
import { msgFromView, newLocalChat, setQuoted, store, storeMessage } from './stores.js';
import { asWPPError, asyncApi, http } from './transport.js';
import { $, render } from './ui.js';
import { loginStore } from './login.js';

export const defaultSendMessageOptions = {
  detectMentioned: true,
  linkPreview: true,
  markIsRead: true,
  waitForAck: true,
  delay: 0,
};

/** assertGetChat: the chat must already be in the local store (chat_not_found). The store
 * lookup is exact, as WhatsApp's (wa-js 4.6.0 module 63829): a phone id does not find the
 * person's @lid chat, nor the other way round. */
export function assertGetChat(chatId) {
  const wid = assertWid(chatId);
  const chat = store.chats.get(wid._serialized);
  if (!chat) throw new InvalidChat(wid);
  return chat;
}

/** The phone id of a known @lid (lidPnCache), else the id itself. */
export function resolveLid(wid) {
  const phone = wid.isLid() ? store.lids.get(wid._serialized) : undefined;
  return phone ? createWid(phone) : wid;
}

/** chat.find: WhatsApp's findOrCreateLatestChat. A phone id finds the person's @lid chat when
 * the page has one (after WhatsApp moved the person to a LID, that is their latest chat), else
 * the exact chat, else a new one. */
export async function findChat(chatId) {
  const wid = assertWid(chatId);
  const lid = state.loggedIn && wid.server === 'c.us' ? store.pns.get(wid._serialized) : undefined;
  const latest = lid ? store.chats.get(String(lid)) : undefined;
  if (latest) return latest;
  const chat = state.loggedIn ? store.chats.get(wid._serialized) : undefined;
  if (chat) return chat;
  const knownLid = wid.isLid() && store.lids.has(wid._serialized);
  if (!state.loggedIn || !(wid.server === 'c.us' || knownLid)) {
    throw new Error(`Failed to find or create chat for ${wid}`);
  }
  return newLocalChat(wid);
}

export function ensureGroupChat(groupId, needAdmin) {
  const chat = assertGetChat(groupId);
  if (!chat.id.isGroup()) throw new WPPError('not_a_group', `Chat ${chat.id._serialized} is not a group`);
  const meta = chat.groupMetadata;
  if (needAdmin && !(meta && meta.participants.iAmAdmin())) {
    throw new WPPError('group_you_are_not_admin', `You are not admin in ${chat.id._serialized}`);
  }
  return chat;
}

export async function getMessageById(ids) {
  if (Array.isArray(ids)) return Promise.all(ids.map((id) => getOneMessage(id)));
  return getOneMessage(ids);
}

/** One message by its exact key, as wa-js 4.6.0 looks it up (module 17530): the message store,
 * then the chat the key names (chat_not_found when this page has no such chat), then that
 * chat's history around the key. A key with the right random id but another chat, sender
 * or direction finds nothing (msg_not_found). */
export async function getOneMessage(id) {
  const text = String(id && id._serialized ? id._serialized : id);
  // WhatsApp parses the argument with MsgKey.fromString: a bare id is no key
  if (text.split('_').length < 3) throw new WPPError('msg_not_found', `Message ${text} not found`, { id: text });
  const key = MsgKey.fromString(text);
  const local = store.msgs.get(key._serialized);
  if (local) return local;
  const notFound = new WPPError('msg_not_found', `Message ${key._serialized} not found`, { id: key._serialized });
  if (key.remote.isStatusV3()) throw notFound; // only the account's own statuses are kept
  assertGetChat(key.remote);
  let view;
  try {
    view = await http('GET', '/message/' + encodeURIComponent(key.id), { auth: true });
  } catch (err) {
    throw notFound;
  }
  const found = msgFromView(view, false);
  if (found.id._serialized !== key._serialized) throw notFound;
  return storeMessage(found);
}

export function mentionsFor(chat, text, options) {
  if (options.mentionedList !== undefined) {
    if (!Array.isArray(options.mentionedList)) {
      throw new WPPError('mentioned_list_is_not_array', 'The option mentionedList is not an array');
    }
    return options.mentionedList.map((id) => {
      const wid = assertWid(id);
      if (!wid.isUser()) throw new WPPError('mentioned_is_not_user', `Mentioned ${wid} is not an user`, { id });
      return wid; // passed through unchanged (wa-js 4.6.0 module 19211)
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

/** A new key of ours in the chat `wid`, as generateMessageID builds it. */
export function ownKeyFor(wid) {
  return newOwnKey({ id: wid });
}

/** WhatsApp's getQuotedMsgObj: the quoted message, when this page has it. */
export function findQuotedMsg(msg) {
  const quoted = store.msgsById.get(msg.quotedStanzaID);
  const remote = String(msg.quotedRemoteJid || msg.id.remote);
  return quoted && String(quoted.id.remote) === remote ? quoted : undefined;
}

/** wa-js 4.6.0's MsgStore 'add' hook (module 16349), before chat.new_message: a new reply whose
 * quoted message is loaded carries that message's own key as quotedMsgId. */
export function beforeNewMessage(msg, findQuoted = findQuotedMsg) {
  if (msg.quotedStanzaID === undefined) return msg;
  const quoted = findQuoted(msg);
  if (!quoted) return msg;
  Object.defineProperties(msg, { _quotedMsgObj: { value: quoted, writable: false },
    quotedMsgId: { value: quoted.id, writable: false } });
  return msg;
}

export function newOwnKey(chat, messageId) {
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
export async function sendMessage(chatId, attrs, options, extra, upload) {
  options = Object.assign({}, defaultSendMessageOptions, options || {});
  const chat = await findChat(chatId);
  if (chat.isNewsletter && !NEWSLETTER_TYPES.includes(attrs.type)) {
    throw new WPPError('type_not_valid_for_newsletter', 'Please, send a valid type for send message to newsletter. Valid types: "chat", "image", "video", "poll_creation"');
  }
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
  if (options.forwardOf) msg.__forwardOf = options.forwardOf; // the server reuses its media
  storeMessage(msg);
  chat.t = msg.t;
  ev.emit('chat.new_message', beforeNewMessage(msg));
  render();
  const delivery = deliver(msg, chat, quoted, mentions, upload);
  if (!options.waitForAck) {
    delivery.catch(() => {});
    return Object.assign({ id: key._serialized, ack: 0 }, extra || { from: String(from), to: String(chat.id) },
      { sendMsgResult: null });
  }
  const result = await delivery;
  return Object.assign({ id: key._serialized, ack: msg.ack }, extra || { from: String(from), to: String(chat.id) },
    { sendMsgResult: result });
}

// wa-js 4.6.0 sendRawMessage: what a channel takes
const NEWSLETTER_TYPES = ['chat', 'image', 'video', 'poll_creation'];

/** upload: a media message's bytes, sent with it (the media server keeps them for downloads). */
export async function deliver(msg, chat, quoted, mentions, upload) {
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
    mentions: mentions.map((w) => w._serialized),
    forwardOf: msg.__forwardOf || null,
    pollName: msg.pollName,
    pollOptions: msg.pollOptions,
    pollSelectableOptionsCount: msg.pollSelectableOptionsCount,
    vcardFormattedName: msg.vcardFormattedName,
    vcardList: msg.vcardList,
  };
  if (upload) payload.data = bytesToBase64(upload);
  await streamFlowing(); // offline, in conflict, blocked: the message waits with its clock
  try {
    // Retrying is safe: the server treats a known message id as the same send.
    const answer = await http('POST', '/send', { body: payload, auth: true, retries: 6 });
    msg.t = answer.t;
    setAck(msg, 1);
    return { messageSendResult: 'OK', t: answer.t, count: null };
  } catch (err) {
    log('send failed', err);
    setAck(msg, -1);
    // The server names the result of an injected failure (409 with a SendMsgResult code).
    const named = err.status === 409 && SEND_RESULTS.includes(err.code) ? err.code : null;
    const result = { messageSendResult: named || (err.status ? 'ERROR_UNKNOWN' : 'ERROR_NETWORK') };
    // A reach-out refusal (server nack 463) comes with WhatsApp's timelock notice
    // (xwa2_notify_account_reachout_timelock); network/reachout.py.
    if (err.extra && err.extra.nack) {
      Object.assign(result, { nack: err.extra.nack, reachoutTimelock: err.extra.reachoutTimelock });
    }
    return result;
  }
}

// wa-js 4.6.0 whatsapp/enums/SendMsgResult.d.ts (OK aside)
export const SEND_RESULTS = ['ERROR_NETWORK', 'ERROR_EXPIRED', 'ERROR_CANCELLED', 'ERROR_UPLOAD',
  'ERROR_UNKNOWN'];

/** A model's ack changes; like WhatsApp Web, no ack event below 1 and none before full-ready. */
export function setAck(msg, ack) {
  msg.ack = ack;
  if (state.fullReady && ack >= 1) {
    ev.emit('chat.msg_ack_change', { ack, chat: msg.id.remote, ids: [msg.id] });
  }
}

export async function markChatRead(chat) {
  const before = chat.unreadCount;
  await http('POST', '/read', { body: { chat: chat.id._serialized }, auth: true, retries: 3 });
  chat.unreadCount = 0;
  render();
  return before;
}

export const DATA_URL_RE = /^data:([^;,]*)((?:;[^;,]*)*?);base64,(.*)$/s;
export const BASE64_RE = /^[A-Za-z0-9+/\s]*={0,2}\s*$/;

export function decodeBase64(text) {
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

export const SIGNATURES = [
  [[0x89, 0x50, 0x4e, 0x47], 'image/png', 'png'],
  [[0xff, 0xd8, 0xff], 'image/jpeg', 'jpg'],
  [[0x47, 0x49, 0x46, 0x38], 'image/gif', 'gif'],
  [[0x42, 0x4d], 'image/bmp', 'bmp'],
  [[0x25, 0x50, 0x44, 0x46], 'application/pdf', 'pdf'],
  [[0x4f, 0x67, 0x67, 0x53], 'audio/ogg', 'ogg'],
  [[0x49, 0x44, 0x33], 'audio/mpeg', 'mp3'],
  [[0x50, 0x4b, 0x03, 0x04], 'application/zip', 'zip'],
];

export function sniff(bytes) {
  const starts = (sig, offset = 0) => sig.every((b, i) => bytes[offset + i] === b);
  if (starts([0x52, 0x49, 0x46, 0x46]) && starts([0x57, 0x45, 0x42, 0x50], 8)) {
    return { mime: 'image/webp', ext: 'webp' };
  }
  if (starts([0x66, 0x74, 0x79, 0x70], 4)) return { mime: 'video/mp4', ext: 'mp4' };
  for (const [sig, mime, ext] of SIGNATURES) if (starts(sig)) return { mime, ext };
  return null;
}

export const EXT_BY_MIME = { 'image/jpeg': 'jpg', 'image/png': 'png', 'image/gif': 'gif',
  'image/webp': 'webp', 'application/pdf': 'pdf', 'text/plain': 'txt', 'audio/ogg': 'ogg',
  'audio/mpeg': 'mp3', 'video/mp4': 'mp4' };

export async function contentBytes(content) {
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

export const UPLOAD_LIMITS = { image: 16, video: 16, audio: 16, ptt: 16, sticker: 1, document: 100 };

export async function sendFile(chatId, content, options) {
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
    // voice notes and stickers carry no caption in WhatsApp
    caption: byUser ? options.caption : (type === 'ptt' || type === 'sticker' ? undefined : filename),
    isCaptionByUser: byUser,
    filename,
    mimetype,
    size: file.bytes.length,
  };
  if (!filename.includes('.') && EXT_BY_MIME[mimetype] && !options.filename) {
    attrs.filename = `${filename}.${EXT_BY_MIME[mimetype]}`;
  }
  return sendMessage(chatId, attrs, options, {}, file.bytes);
}

export function bytesToBase64(bytes) {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** chat.downloadMedia: the file of a media message as a Blob (wa-js 4.6.0 errors). */
export async function downloadMedia(id) {
  const msg = await getMessageById(id);
  const text = msg.id._serialized;
  if (!msg.isMedia) throw new WPPError('message_not_contains_media', `Message ${text} not contains media`, { id: text });
  const headers = {};
  if (state.login) {
    headers['X-Sandbox-Device'] = state.login.device;
    headers['X-Sandbox-Token'] = state.login.token;
  }
  let response = null;
  try {
    response = await fetch(`${API}/media/${encodeURIComponent(msg.id.id)}`, { headers, cache: 'no-store' });
  } catch (err) {
    log('media download failed', err);
  }
  // Not a WPPError: wa-js throws this plain object when nothing could be fetched.
  if (!response || !response.ok) throw { error: true, code: 'media_not_found', message: 'Media not found' };
  return response.blob();
}

/**
 * chat.deleteMessage (wa-js 4.6.0): with revoke, an own message is deleted for everyone;
 * otherwise (or someone else's message) it is deleted on this device only.
 */
export async function deleteMessage(chatId, ids, deleteMediaInDevice, revoke) {
  const chatModel = assertGetChat(chatId);
  const single = !Array.isArray(ids);
  const msgs = await getMessageById(single ? [ids] : ids);
  const out = [];
  for (const msg of msgs) {
    const result = { id: msg.id._serialized, sendMsgResult: 'OK', isRevoked: false,
      isDeleted: false, isSentByMe: msg.id.fromMe };
    if (revoke && msg.type === 'revoked') {
      Object.assign(result, { sendMsgResult: 'ERROR_UNKNOWN', isRevoked: true });
    } else if (revoke && msg.id.fromMe) {
      let answer;
      try {
        answer = await http('POST', '/revoke', { body: { id: msg.id.id }, auth: true, retries: 3 });
      } catch (err) {
        throw asWPPError(err);
      }
      const key = new MsgKey({ fromMe: true, remote: msg.id.remote, id: answer.revokeId,
        participant: msg.id.participant });
      applyRevoke(msg, { id: key, refId: msg.id, from: msg.from, to: msg.to, type: 'sender_revoke',
        author: msg.author });
      result.isRevoked = true;
    } else {
      chatModel.msgs.remove(msg.id._serialized);
      store.msgs.delete(msg.id._serialized);
      deletedHere(msg.id._serialized);
      result.isDeleted = true;
    }
    out.push(result);
  }
  await keepDeletions();
  render();
  return single ? out[0] : out;
}

/** A revoked message keeps its place in the chat with no content (as WhatsApp shows it). */
export function applyRevoke(msg, payload) {
  if (msg) {
    msg.type = 'revoked';
    msg.body = '';
    for (const name of ['caption', 'filename', 'mimetype', 'size', 'lat', 'lng', 'loc']) delete msg[name];
  }
  ev.emit('chat.msg_revoke', payload);
}

/** chat.editMessage: only the sender's own texts, within WhatsApp's edit window (server side). */
/** chat.editMessage: sent like any message (wa-js 4.6.0 merges defaultSendMessageOptions), so
 * unless options.markIsRead is false the chat is marked read first. */
export async function editMessage(msgId, newText, options = {}) {
  options = Object.assign({}, defaultSendMessageOptions, options);
  const msg = await getOneMessage(msgId);
  if (!msg.id.fromMe || msg.type !== 'chat') {
    throw new WPPError('edit_message_error', 'Cannot edit this message');
  }
  const chat = store.chats.get(String(msg.id.remote));
  if (options.markIsRead && chat && chat.unreadCount > 0) await markChatRead(chat);
  let view;
  try {
    view = await http('POST', '/edit', { body: { id: msg.id.id, body: String(newText).trim() },
      auth: true, retries: 3 });
  } catch (err) {
    throw asWPPError(err);
  }
  const editKey = new MsgKey({ fromMe: true, remote: msg.id.remote, id: newMessageId(),
    participant: msg.id.participant });
  applyEdit(msg, view, editKey);
  return { id: editKey._serialized, ack: 1, from: String(msg.from), to: String(msg.to),
    sendMsgResult: { messageSendResult: 'OK' } };
}

export function applyEdit(msg, view, editKey) {
  msg.body = view.body;
  msg.latestEditMsgKey = editKey;
  msg.latestEditSenderTimestampMs = (view.editedAt || unixTime()) * 1000;
  ev.emit('chat.msg_edited', { chat: msg.to, id: msg.id._serialized, msg });
  render();
}

/** chat.forwardMessage: the message sent again to another chat, marked as forwarded. */
// One group's metadata query (GroupMetadataStore.find) in chat.list without ignoreGroupMetadata.
export const GROUP_METADATA_MS = 100;

/**
 * chat.forwardMessage (deprecated in wa-js 4.6.0, module 74997): WhatsApp's own
 * forwardMessagesToChats does the work, and what it answers is returned (no boolean). A
 * WhatsApp Web build without that function throws forward_messages_to_chats_not_available.
 */
export async function forwardMessage(toChatId, msgId, options = {}) {
  const target = await findChat(toChatId);
  const msg = await getOneMessage(msgId);
  const functions = window.WPP && window.WPP.whatsapp && window.WPP.whatsapp.functions;
  if (!functions || typeof functions.forwardMessagesToChats !== 'function') {
    throw new WPPError('forward_messages_to_chats_not_available',
      "WhatsApp's forwardMessagesToChats function is not available in this session");
  }
  return await functions.forwardMessagesToChats([msg], [target], options.displayCaptionText);
}

/** WhatsApp's forwardMessagesToChats(msgs, chats, displayCaptionText): answers nothing. */
export async function forwardMessagesToChats(msgs, chats, displayCaptionText) {
  for (const chatModel of chats) {
    for (const msg of msgs) {
      const attrs = { type: msg.type, body: msg.body, isForwarded: true };
      for (const name of ['caption', 'filename', 'mimetype', 'size', 'lat', 'lng', 'loc']) {
        if (msg[name] !== undefined) attrs[name] = msg[name];
      }
      if (msg.isMedia && displayCaptionText === false) attrs.caption = msg.filename;
      await sendMessage(chatModel.id, attrs, { forwardOf: msg.id.id });
    }
  }
  return undefined;
}

/** chat.starMessage: like wa-js 4.6.0, each result's `star` is the state before the call. */
export async function starMessage(ids, star = true) {
  const single = !Array.isArray(ids);
  const msgs = await getMessageById(single ? [ids] : ids);
  const out = msgs.map((m) => ({ id: m.id._serialized, star: m.star || false }));
  try {
    await http('POST', '/star', { body: { ids: msgs.map((m) => m.id.id), star: star !== false },
      auth: true, retries: 3 });
  } catch (err) {
    throw asWPPError(err);
  }
  for (const m of msgs) m.star = star !== false;
  render();
  return single ? out[0] : out;
}

/** WhatsApp's vCard of a contact: the waid parameter makes the number tappable. */
export function vcardOf(wid, name) {
  const digits = wid.user;
  return ['BEGIN:VCARD', 'VERSION:3.0', `N:;${name};;;`, `FN:${name}`,
    `item1.TEL;waid=${digits}:+${digits}`, 'item1.X-ABLabel:Mobile', 'END:VCARD'].join('\n');
}

/** chat.sendVCardContactMessage: one card (type vcard) or several (multi_vcard). */
export async function sendVCards(chatId, contacts, options = {}) {
  const list = Array.isArray(contacts) ? contacts : [contacts];
  const cards = list.map((c) => {
    const named = typeof c === 'object' && c !== null && 'name' in c;
    const wid = assertWid(named ? String(c.id) : String(c));
    const known = store.contacts && store.contacts.get(wid._serialized);
    const name = (named && c.name) || (known && (known.name || known.pushname)) || wid.user;
    return { displayName: name, vcard: vcardOf(wid, name) };
  });
  const attrs = cards.length === 1
    ? { type: 'vcard', body: cards[0].vcard, vcardFormattedName: cards[0].displayName }
    : { type: 'multi_vcard', body: '', vcardList: cards };
  return sendMessage(chatId, attrs, options);
}

export const PIN_DURATIONS = ['FiveSeconds', 'FifteenSeconds', 'OneMinute', 'OneDay', 'SevenDays',
  'ThirtyDays'];

/** chat.pinMsg: numbers and unknown durations fall back to SevenDays, as in wa-js 4.6.0. */
export async function pinMsg(msgId, pin = true, duration = 'SevenDays') {
  if (typeof pin !== 'boolean') {
    throw new WPPError('invalid_pin_parameter', `The 'pin' parameter must be a boolean. Received: ${typeof pin}`);
  }
  const option = PIN_DURATIONS.includes(duration) ? duration : 'SevenDays';
  const msg = await getOneMessage(msgId);
  const verb = pin ? 'pin' : 'unpin';
  if (msg.type === 'revoked' || (msg.ack || 0) < 1) {
    throw new WPPError(`${verb}_error`, `The msg ${msgId} not can be pinned`);
  }
  let view;
  try {
    view = await http('POST', '/pin', { body: { id: msg.id.id, pin, duration: option }, auth: true,
      retries: 3 });
  } catch (err) {
    throw asWPPError(err);
  }
  msg.__pinnedUntil = view.pinnedUntil || null;
  render();
  return { message: msg, pinned: true, result: 'OK' };
}

export const chat = {
  defaultSendMessageOptions,
  get: (chatId) => {
    const wid = assertWid(chatId);
    return store.chats.get(wid._serialized);
  },
  find: asyncApi('chat.find', async (chatId) => findChat(chatId)),
  list: asyncApi('chat.list', async (options = {}) => {
    // WhatsApp keeps channels in NewsletterStore, apart from ChatStore (wa-js 4.6.0 chat.list)
    let chats = Array.from(store.chats.values()).filter((c) => !!options.onlyNewsletter === c.id.isNewsletter())
      .sort((a, b) => (b.t || 0) - (a.t || 0));
    if (options.onlyUsers) chats = chats.filter((c) => c.id.isUser());
    if (options.onlyGroups) chats = chats.filter((c) => c.id.isGroup());
    if (options.onlyWithUnreadMessage) chats = chats.filter((c) => c.unreadCount !== 0);
    if (options.onlyArchived) chats = chats.filter((c) => c.archive);
    if (options.onlyCommunities) {
      chats = chats.filter((c) => c.id.isGroup() && c.groupMetadata && c.groupMetadata.groupType === 'COMMUNITY');
    }
    if (options.id) {
      const index = chats.findIndex((c) => c.id.equals(String(options.id)));
      chats = options.direction === 'before' ? chats.slice(0, Math.max(0, index))
        : chats.slice(index + 1);
    }
    if (options.count !== undefined && options.count >= 0) chats = chats.slice(0, options.count);
    // wa-js 4.6.0 (chat/functions/list) loads each group's metadata one at a time unless
    // ignoreGroupMetadata: as slow here, so a gateway that lists every chat pays for it
    if (!options.ignoreGroupMetadata) {
      for (const c of chats) if (c.id.isGroup()) await sleep(GROUP_METADATA_MS);
    }
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
  downloadMedia: asyncApi('chat.downloadMedia', (id) => downloadMedia(id)),
  deleteMessage: asyncApi('chat.deleteMessage', (chatId, ids, deleteMediaInDevice = false,
    revoke = false) => deleteMessage(chatId, ids, deleteMediaInDevice, revoke)),
  editMessage: asyncApi('chat.editMessage', (msgId, newText, options) =>
    editMessage(msgId, newText, options)),
  sendCreatePollMessage: asyncApi('chat.sendCreatePollMessage',
    async (chatId, name, choices, options = {}) => sendMessage(chatId, {
      type: 'poll_creation', body: '', pollName: name,
      pollOptions: choices.map((choice, localId) => ({ name: choice, localId })),
      pollSelectableOptionsCount: options.selectableCount || 0,
    }, options)),
  sendVCardContactMessage: asyncApi('chat.sendVCardContactMessage',
    (chatId, contacts, options) => sendVCards(chatId, contacts, options)),
  starMessage: asyncApi('chat.starMessage', (ids, star) => starMessage(ids, star)),
  pinMsg: asyncApi('chat.pinMsg', (msgId, pin, duration) => pinMsg(msgId, pin, duration)),
  unpinMsg: asyncApi('chat.unpinMsg', (msgId) => pinMsg(msgId, false)),
  forwardMessage: asyncApi('chat.forwardMessage', (toChatId, msgId, options) =>
    forwardMessage(toChatId, msgId, options)),
  // wa-js 4.6.0 module 78626: the key from the id alone (no chat is looked up or made)
  generateMessageID: asyncApi('chat.generateMessageID', async (chatId) =>
    ownKeyFor(chatId instanceof ChatModel ? chatId.id : assertWid(chatId))),
};

export async function loadOlder(chatModel, oldest, count) {
  const before = oldest ? `&before=${oldest.id.id}` : '';
  const answer = await http('GET',
    `/history?chat=${encodeURIComponent(chatModel.id._serialized)}&count=${count}${before}`,
    { auth: true, retries: 3 });
  const deleted = new Set((state.login && state.login.deletedForMe) || []);
  for (const view of answer.messages) {
    const key = view.key._serialized;
    if (!store.msgs.has(key) && !deleted.has(key)) storeMessage(msgFromView(view, false));
  }
}

// A message deleted for me stays deleted on this device: WhatsApp keeps the deletion in the
// device's store (and syncs it to the account's other devices), so history loaded later from
// the phone never brings it back. Kept in the login record, which a reload and a snapshot keep.
function deletedHere(key) {
  if (!state.login) return;
  const kept = state.login.deletedForMe || (state.login.deletedForMe = []);
  if (!kept.includes(key)) kept.push(key);
}

async function keepDeletions() {
  if (state.login) await loginStore.save(state.login).catch((err) => log('cannot keep the deletion', err));
}
