/* WPP.chat archive/pin/mute/clear/delete and chatstates, WPP.conn.markAvailable,
 * WPP.contact.subscribePresence and the chat.presence_change event, as wa-js 4.6.0 has them
 * (dist/chat/functions/{archive,pin,mute,unmute,clear,delete,markIsComposing,markIsRecording,
 * markIsPaused}.d.ts, dist/conn/functions/markAvailable.d.ts,
 * dist/contact/functions/subscribePresence.d.ts, dist/chat/events/eventTypes.d.ts).
 *
 * As in wa-js: archive/pin throw <verb>_error when the chat is already so; mute checks its time
 * (invalid_time_mute, negative_time_mute); delete finds or creates the chat (it never says
 * chat_not_found); presence_change fires only for contacts this page subscribed to (every chat
 * it had at conn.main_ready, the chats markIsComposing & co. touch, subscribePresence) and
 * only when the contact's chatstate type changes.
 */

import { clientId, unixTime } from './base.js';
import { assertGetChat, findChat } from './chat.js';
import { WPPError } from './errors.js';
import { ev } from './events.js';
import { assertWid, createWid } from './ids.js';
import { eventHandlers } from './pump.js';
import { state } from './state.js';
import { store, upsertChat, upsertContact } from './stores.js';
import { asWPPError, asyncApi, http } from './transport.js';
import { render } from './ui.js';

const subscribed = new Set(); // contact wids this page receives presence of
const chatstateType = new Map(); // contact wid -> the last chatstate type seen
const TYPE_OF = { composing: 'composing', recording: 'recording', paused: 'available',
  available: 'available', unavailable: 'unavailable' };

async function action(chatModel, name, value) {
  try {
    return await http('POST', '/chats/action', { auth: true, retries: 3,
      body: { chat: chatModel.id._serialized, action: name, value } });
  } catch (err) {
    throw asWPPError(err);
  }
}

async function archive(chatId, value = true) {
  const wid = assertWid(chatId);
  const chatModel = assertGetChat(wid);
  if (!!chatModel.archive === value) {
    throw new WPPError((value ? 'archive' : 'unarchive') + '_error',
      `The chat ${wid} is already ${value ? 'archived' : 'unarchived'}`, { wid, archive: value });
  }
  upsertChat(await action(chatModel, 'archive', value));
  render();
  return { wid, archive: value };
}

async function pin(chatId, value = true) {
  const wid = assertWid(chatId);
  const chatModel = assertGetChat(wid);
  if (!!chatModel.pin === value) {
    throw new WPPError((value ? 'pin' : 'unpin') + '_error',
      `The chat ${wid} is already ${value ? 'pinned' : 'unpinned'}`, { wid, pin: value });
  }
  upsertChat(await action(chatModel, 'pin', value));
  render();
  return { wid, pin: value };
}

async function mute(chatId, time) {
  const wid = assertWid(chatId);
  const chatModel = assertGetChat(wid);
  let expiration = 0;
  if (time && 'expiration' in time) {
    expiration = typeof time.expiration === 'number' ? time.expiration : time.expiration.getTime() / 1000;
  } else if (time && 'duration' in time) {
    expiration = unixTime() + time.duration;
  } else {
    throw new WPPError('invalid_time_mute', 'Invalid time for mute', { time });
  }
  if (expiration < unixTime()) throw new WPPError('negative_time_mute', 'Negative duration for mute', { time });
  upsertChat(await action(chatModel, 'mute', Math.floor(expiration)));
  render();
  return { wid, expiration: chatModel.muteExpiration, isMuted: chatModel.muteExpiration !== 0 };
}

async function unmute(chatId) {
  const chatModel = assertGetChat(assertWid(chatId));
  upsertChat(await action(chatModel, 'mute', 0));
  render();
}

function forgetMessages(chatModel, keep) {
  for (const msg of chatModel.msgs.getModelsArray()) {
    if (keep.includes(msg.id.id)) continue;
    chatModel.msgs.remove(msg.id._serialized);
    store.msgs.delete(msg.id._serialized);
    store.msgsById.delete(msg.id.id);
  }
  chatModel.unreadCount = 0;
}

async function clear(chatId, keepStarred = true) {
  const wid = assertWid(chatId);
  const chatModel = assertGetChat(wid);
  let status = 200;
  try {
    await action(chatModel, 'clear', keepStarred);
  } catch (err) {
    status = err.code === 'chat_not_found' ? 404 : 500;
  }
  const keep = keepStarred ? chatModel.msgs.getModelsArray().filter((m) => m.star).map((m) => m.id.id) : [];
  if (status === 200) forgetMessages(chatModel, keep);
  render();
  return { wid, status, keepStarred };
}

async function deleteChat(chatId) {
  const wid = assertWid(chatId);
  const chatModel = await findChat(wid); // wa-js assertFindChat: finds or creates
  let status = 200;
  try {
    await action(chatModel, 'delete');
  } catch (err) {
    if (err.code !== 'chat_not_found') status = 500; // a chat only this page had: gone too
  }
  if (status === 200) {
    forgetMessages(chatModel, []);
    store.chats.delete(chatModel.id._serialized);
  }
  render();
  return { wid, status };
}

async function sendChatstate(chatId, kind) {
  const chatModel = assertGetChat(chatId);
  if (chatModel.id.isUser()) await subscribe([chatModel.id._serialized]); // presence.subscribe()
  await http('POST', '/chatstate', { auth: true, retries: 2,
    body: { chat: chatModel.id._serialized, state: kind } }).catch((err) => { throw asWPPError(err); });
  return chatModel;
}

function pausedTimer(chatModel, chatId, duration) {
  return new Promise((resolve) => {
    chatModel.pausedTimerId = setTimeout(() => {
      sendChatstate(chatId, 'paused').then(resolve, resolve);
    }, duration);
  });
}

async function markIsComposing(chatId, duration) {
  const chatModel = await sendChatstate(chatId, 'composing');
  if (chatModel.pausedTimerId) {
    clearTimeout(chatModel.pausedTimerId);
    chatModel.pausedTimerId = undefined;
  }
  if (duration) await pausedTimer(chatModel, chatId, duration);
}

async function markIsRecording(chatId, duration) {
  const chatModel = await sendChatstate(chatId, 'recording');
  if (duration) await pausedTimer(chatModel, chatId, duration);
}

async function markIsPaused(chatId) {
  await sendChatstate(chatId, 'paused');
}

async function markAvailable(available = true) {
  await http('POST', '/presence', { auth: true, retries: 2, body: { available: !!available } });
  return true;
}

async function subscribe(ids) {
  const list = (Array.isArray(ids) ? ids : [ids]).map((id) => assertWid(id)._serialized);
  const answer = await http('POST', '/presence/subscribe', { auth: true, retries: 2,
    body: { client: clientId, ids: list } });
  for (const id of answer.ids) subscribed.add(id);
  return answer.ids.map(createWid);
}

// wa-js (chat/events/registerPresenceChange): at conn.main_ready every chat's presence is
// subscribed; later chats are not unless something subscribes them.
function subscribeAtMainReady() {
  if (!state.loggedIn) return;
  const users = Array.from(store.chats.values()).filter((c) => c.id.isUser() && !c.id.isLid());
  if (users.length) subscribe(users.map((c) => c.id._serialized)).catch(() => {});
}

function onPresence(event) {
  const contact = upsertContact(event.contact);
  const id = contact.id._serialized;
  if (!subscribed.has(id)) return; // never subscribed on this page: WhatsApp sends nothing
  const type = TYPE_OF[event.state];
  if (!type || chatstateType.get(id) === type) return; // wa-js: change:chatstate.type only
  chatstateType.set(id, type);
  ev.emit('chat.presence_change', {
    id: createWid(id), isOnline: !!event.isOnline, isGroup: false, isUser: true,
    shortName: contact.shortName || contact.pushname || '', state: type, t: event.t,
    isContact: true,
  });
}

/** Add these functions to the WPP namespaces (api.js). */
/** WPP.chat's, WPP.conn's and WPP.contact's functions of this module (api.js). */
export const chatStateApi = {
  chat: {
    archive: asyncApi('chat.archive', archive),
    unarchive: asyncApi('chat.unarchive', (chatId) => archive(chatId, false)),
    pin: asyncApi('chat.pin', pin),
    unpin: asyncApi('chat.unpin', (chatId) => pin(chatId, false)),
    mute: asyncApi('chat.mute', mute),
    unmute: asyncApi('chat.unmute', unmute),
    clear: asyncApi('chat.clear', clear),
    delete: asyncApi('chat.delete', deleteChat),
    markIsComposing: asyncApi('chat.markIsComposing', markIsComposing),
    markIsRecording: asyncApi('chat.markIsRecording', markIsRecording),
    markIsPaused: asyncApi('chat.markIsPaused', markIsPaused),
  },
  conn: {
    markAvailable: asyncApi('conn.markAvailable', markAvailable),
    markUnavailable: asyncApi('conn.markUnavailable', () => markAvailable(false)),
  },
  contact: {
    subscribePresence: asyncApi('contact.subscribePresence', subscribe),
  },
};

/** The presence subscriptions and the server's chat events of this module. */
export function installChatState() {
  ev.on('conn.main_ready', subscribeAtMainReady);
  Object.assign(eventHandlers, {
    presence: onPresence,
    chat_clear(event) {
      const chatModel = store.chats.get(event.chat);
      if (chatModel) forgetMessages(chatModel, event.keep.map((m) => String(m)));
      render();
    },
    chat_delete(event) {
      const chatModel = store.chats.get(event.chat);
      if (chatModel) forgetMessages(chatModel, []);
      store.chats.delete(event.chat);
      render();
    },
  });
}
