/* The event pump: long-polls the server and applies what arrives. */

import { POLL_SECONDS, clientId, log, newMessageId, sleep } from './base.js';
import { applyEnd, applyOffer } from './call.js';
import { applyEdit, applyRevoke, beforeNewMessage, chat } from './chat.js';
import { ev } from './events.js';
import { MsgKey, createWid, keyFromView } from './ids.js';
import { loginStore } from './login.js';
import { handleLogout } from './logout.js';
import { setStream, state } from './state.js';
import { MsgModel } from './models.js';
import { msgFromView, store, storeMessage, upsertChat, upsertContact } from './stores.js';
import { http } from './transport.js';
import { render } from './ui.js';

/**
 * Long-poll the device's queue. The server keeps every event until a later poll
 * acknowledges it (`ack` = last seq emitted here), so a killed page loses nothing:
 * the next page with this login gets the rest.
 */
export async function pump() {
  let acked = 0;
  let failures = 0;
  while (state.loggedIn && !state.stopped) {
    let answer;
    try {
      const shown = encodeURIComponent(`${state.mode}:${state.info}:${state.needsUpdate ? 1 : 0}`);
      answer = await http('GET',
        `/events?ack=${acked}&client=${clientId}&timeout=${POLL_SECONDS}&stream=${shown}`,
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
      // Another page took over this login ("open in another window"): nothing flows here
      // until WPP.whatsapp.Socket.takeover() ("Use here").
      setStream('CONFLICT', 'NORMAL');
      await takeoverDone();
      continue;
    }
    if (answer.stream) setStream(answer.stream.mode, answer.stream.info, answer.stream.needsUpdate);
    else if (state.info !== 'NORMAL') setStream(state.mode, 'NORMAL');
    const login = state.login;
    const keys = login.keys || 0;
    for (const event of answer.events) {
      try {
        applyEvent(event);
      } catch (err) {
        console.error('[sandbox] event failed', event, err);
      }
      if (typeof event.key === 'number' && event.key > (login.keys || 0)) login.keys = event.key;
      acked = event.seq;
    }
    // Before the next poll acknowledges these events: the key state they advanced is in the
    // profile (a browser killed now comes back with it), and the messages that did not
    // decrypt are retried (sandbox network/keystate.py).
    if ((login.keys || 0) !== keys && state.login === login) {
      await loginStore.save(login).catch((err) => log('cannot store the key state', err));
    }
    await sendRetries();
  }
}

// Incoming messages that arrived as ciphertext: WhatsApp Web sends their senders a retry
// receipt; a sender that answers encrypts the message again (a `decrypt` event).
const retries = [];

async function sendRetries() {
  if (!retries.length) return;
  const ids = retries.splice(0);
  try {
    await http('POST', '/retry', { auth: true, body: { ids }, retries: 3 });
  } catch (err) {
    log('retry receipts failed', err);
  }
}

const takeoverWaiters = [];

function takeoverDone() {
  return new Promise((resolve) => takeoverWaiters.push(resolve));
}

/** WPP.whatsapp.Socket.takeover(): use WhatsApp in this window again (whatsapp/misc/Socket.d.ts). */
export async function takeover() {
  if (!state.login) return undefined;
  const answer = await http('POST', '/takeover', { auth: true, body: { client: clientId }, retries: 3 });
  setStream(answer.stream.mode, answer.stream.info);
  takeoverWaiters.splice(0).forEach((resolve) => resolve());
  return undefined;
}

export const eventHandlers = {
  message(event) {
    // wa-js 4.6.0 wraps handleSingleMsg: with syncAllStatus false, other people's status
    // posts are never processed (no store, no chat.new_message).
    const key = event.msg.key;
    if (key.remote === 'status@broadcast' && !syncAllStatus() && !key.fromMe) return;
    if (event.contact) upsertContact(event.contact); // a channel post names no sender
    if (event.chat) upsertChat(event.chat);
    const msg = storeMessage(msgFromView(event.msg, true));
    if (msg.type === 'ciphertext' && !key.fromMe) retries.push(key.id);
    ev.emit('chat.new_message', beforeNewMessage(msg));
    render();
  },
  // A ciphertext message decrypted: the model changes type, and wa-js 4.6.0 (its
  // "change:type" listener) emits chat.new_message again with the same model.
  decrypt(event) {
    const fresh = msgFromView(event.msg, true);
    const msg = store.msgs.get(fresh.id._serialized);
    if (!msg) {
      ev.emit('chat.new_message', storeMessage(fresh));
    } else {
      for (const name of MsgModel.props) if (fresh[name] !== undefined && name !== 'id') msg[name] = fresh[name];
      if (msg.type !== 'ciphertext') ev.emit('chat.new_message', msg);
    }
    render();
  },
  call(event) {
    applyOffer(event.call);
  },
  call_end(event) {
    applyEnd(event);
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
    // The receipt's keys are rebuilt from the receipt (remote = its sender, participant = the
    // reader in a group): the stored model is found by the key's id, the event keeps them.
    const ids = event.ids.map((text) => {
      const key = MsgKey.fromString(text);
      const byId = store.msgsById.get(key.id);
      const msg = store.msgs.get(text) || (byId && byId.id.fromMe ? byId : null);
      if (msg && msg.ack < event.ack) msg.ack = event.ack;
      return key;
    });
    if (!state.fullReady || event.ack < 1) return; // wa-js listens from full-ready on
    const payload = { ack: event.ack, chat: createWid(event.chat), ids };
    if (event.sender) payload.sender = createWid(event.sender);
    ev.emit('chat.msg_ack_change', payload);
  },
  revoke(event) {
    const refId = keyFromView(event.refId);
    const payload = {
      id: keyFromView(event.id),
      refId,
      from: createWid(event.from),
      to: createWid(event.to),
      type: event.revokeType,
    };
    if (event.author) payload.author = createWid(event.author);
    applyRevoke(store.msgs.get(refId._serialized), payload);
    render();
  },
  edit(event) {
    const view = event.msg;
    const key = keyFromView(view.key);
    let msg = store.msgs.get(key._serialized);
    if (!msg) msg = storeMessage(msgFromView(view, false));
    const editKey = new MsgKey({ fromMe: key.fromMe, remote: key.remote, id: newMessageId(),
      participant: key.participant });
    applyEdit(msg, view, editKey);
  },
  star(event) {
    for (const id of event.ids) {
      const msg = store.msgs.get(id);
      if (msg) msg.star = event.star;
    }
    render();
  },
  pin(event) {
    const msg = store.msgs.get(keyFromView(event.msg.key)._serialized);
    if (msg) msg.__pinnedUntil = event.msg.pinnedUntil || null;
    render();
  },
  // wa-js 4.6.0 builds selectedOptions as an array indexed by localId of the poll's options.
  vote(event) {
    let poll = store.msgs.get(keyFromView(event.msg.key)._serialized);
    if (!poll) poll = storeMessage(msgFromView(event.msg, false));
    const selectedOptions = [];
    for (const id of event.selectedOptionLocalIds) {
      selectedOptions[id] = (poll.pollOptions || []).filter((o) => o.localId === id)[0];
    }
    ev.emit('chat.poll_response', { msgId: poll.id, chatId: poll.id.remote, selectedOptions,
      timestamp: event.senderTimestampMs, sender: createWid(event.sender) });
  },
  chat(event) {
    upsertChat(event.chat);
    render();
  },
  // a channel deleted or unfollowed: gone from the page's NewsletterStore
  chat_gone(event) {
    store.chats.delete(event.id);
    render();
  },
  participants(event) {
    upsertChat(event.chat);
    ev.emit('group.participant_changed', Object.assign({}, event.event));
    render();
  },
};

function syncAllStatus() {
  const config = (window.WPP && window.WPP.config) || window.WPPConfig || {};
  return config.syncAllStatus !== false;
}

export function applyEvent(event) {
  const handler = eventHandlers[event.type];
  if (handler) handler(event);
  else log('unknown event', event.type);
}

