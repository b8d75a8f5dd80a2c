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

export function setStream(mode, info) {
  if (mode !== state.mode) {
    state.mode = mode;
    if (state.injected) ev.emit('conn.stream_mode_changed', mode);
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
}
