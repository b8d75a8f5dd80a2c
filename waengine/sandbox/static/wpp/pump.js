/* The event pump: long-polls the server and applies what arrives. */

import { POLL_SECONDS, clientId, log, sleep } from './base.js';
import { chat } from './chat.js';
import { ev } from './events.js';
import { MsgKey, createWid, keyFromView } from './ids.js';
import { handleLogout } from './logout.js';
import { setStream, state } from './state.js';
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

export const eventHandlers = {
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

export function applyEvent(event) {
  const handler = eventHandlers[event.type];
  if (handler) handler(event);
  else log('unknown event', event.type);
}
