/* WPP.call: incoming calls ring on this device (call.incoming_call); WhatsApp Web can reject them. */

import { WPPError } from './errors.js';
import { ev } from './events.js';
import { createWid } from './ids.js';
import { asWPPError, http } from './transport.js';

// call id -> {id, peerJid, isVideo, isGroup, offerTime, outgoing, state}; like wa-js CallStore
export const calls = new Map();

/** The call with that id, or (no id) the first incoming one still ringing (wa-js getCall). */
export function getCall(callId) {
  if (callId) return calls.get(String(callId));
  for (const call of calls.values()) if (call.state === 'INCOMING_RING') return call;
  return undefined;
}

/** A call offer from the server: store it and emit what wa-js 4.6.0 emits (call/events). */
export function applyOffer(offer) {
  const call = { id: offer.id, peerJid: createWid(offer.peerJid), isVideo: !!offer.isVideo,
    isGroup: !!offer.isGroup, offerTime: offer.offerTime, outgoing: false, state: 'INCOMING_RING' };
  calls.set(call.id, call);
  ev.emit('call.incoming_call', { id: call.id, isGroup: call.isGroup, isVideo: call.isVideo,
    offerTime: call.offerTime || Math.floor(Date.now() / 1000), sender: createWid(offer.peerJid),
    peerJid: call.peerJid });
}

export function applyEnd(event) {
  const call = calls.get(event.id);
  if (call) call.state = event.state === 'rejected' ? 'REJECTED' : 'ENDED';
}

/** call.reject(callId?): call_not_found / call_is_not_incoming_ring as wa-js 4.6.0 throws. */
export async function reject(callId) {
  const call = getCall(callId);
  if (!call) throw new WPPError('call_not_found', `Call ${callId || '<empty>'} not found`, { callId });
  if (call.state !== 'INCOMING_RING' && !call.isGroup) {
    throw new WPPError('call_is_not_incoming_ring', `Call ${callId || '<empty>'} is not incoming ring`,
      { callId, state: call.state });
  }
  try {
    await http('POST', '/calls/' + encodeURIComponent(call.id) + '/reject', { auth: true, retries: 2 });
  } catch (err) {
    throw asWPPError(err);
  }
  call.state = 'REJECTED';
  return true;
}

export const call = { reject, getCall };
