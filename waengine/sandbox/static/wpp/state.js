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
  statusText: 'Loading…',
};

// Resolved when the stream carries messages again (MAIN or SYNCING): sends wait for it, as
// WhatsApp Web keeps a message with the clock icon until its socket is back.
const flowingWaiters = [];
const FLOWING = ['MAIN', 'SYNCING'];

export function streamFlowing() {
  if (FLOWING.indexOf(state.mode) !== -1) return Promise.resolve();
  return new Promise((resolve) => flowingWaiters.push(resolve));
}

export function setStream(mode, info) {
  if (mode !== state.mode) {
    state.mode = mode;
    if (state.injected) ev.emit('conn.stream_mode_changed', mode);
    if (mode === 'DEPRECATED_VERSION' && state.injected) ev.emit('conn.needs_update');
    if (FLOWING.indexOf(mode) !== -1) flowingWaiters.splice(0).forEach((resolve) => resolve());
  }
  if (info !== undefined && info !== state.info) {
    state.info = info;
    if (state.injected) ev.emit('conn.stream_info_changed', info);
  }
  render();
}

export function setMe(me) {
  state.me = { wid: createWid(me.id), lid: createWid(me.lid), name: me.name, device: me.device,
    business: me.isBusiness === true };
  store.lids.set(me.lid, me.id);
  store.pns.set(me.id, me.lid);
}
