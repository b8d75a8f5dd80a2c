/* The login and readiness state of the page, and the stream mode it reports. */

import { ev } from './events.js';
import { createWid } from './ids.js';
import { store } from './stores.js';
import { render } from './ui.js';

export const state = {
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
  needsUpdate: false,
  statusText: 'Loading…',
};

// Resolved when the stream carries messages again (MAIN or SYNCING, its socket not down):
// sends wait for it, as WhatsApp Web keeps a message with the clock icon until its socket is
// back. Through a short reconnect the mode stays MAIN and only the info says so.
const flowingWaiters = [];
const FLOWING = ['MAIN', 'SYNCING'];
const SOCKET_DOWN = ['OFFLINE', 'CONNECTING', 'OPENING'];

function isFlowing() {
  return FLOWING.indexOf(state.mode) !== -1 && SOCKET_DOWN.indexOf(state.info) === -1;
}

export function streamFlowing() {
  if (isFlowing()) return Promise.resolve();
  return new Promise((resolve) => flowingWaiters.push(resolve));
}

/** The stream's mode, info and WhatsApp's "update available" flag (Stream.needsUpdate, which
 * wa-js emits as conn.needs_update when it turns true; independent of the mode). */
export function setStream(mode, info, needsUpdate) {
  if (mode !== state.mode) {
    state.mode = mode;
    if (state.injected) ev.emit('conn.stream_mode_changed', mode);
  }
  if (needsUpdate !== undefined && !!needsUpdate !== state.needsUpdate) {
    state.needsUpdate = !!needsUpdate;
    if (state.needsUpdate && state.injected) ev.emit('conn.needs_update');
  }
  if (info !== undefined && info !== state.info) {
    state.info = info;
    if (state.injected) ev.emit('conn.stream_info_changed', info);
  }
  if (isFlowing()) flowingWaiters.splice(0).forEach((resolve) => resolve());
  render();
}

export function setMe(me) {
  state.me = { wid: createWid(me.id), lid: createWid(me.lid), name: me.name, device: me.device,
    business: me.isBusiness === true };
  store.lids.set(me.lid, me.id);
  store.pns.set(me.id, me.lid);
}
