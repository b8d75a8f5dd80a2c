/* Boot: restore the stored login or start pairing, then the loader stages. */

import { INJECT_AFTER_MS, SCRIPT_START, STAGE_GAP_MS, clientId, log, sleep } from './base.js';
import { loadBlocklist } from './blocklist.js';
import { ev } from './events.js';
import { loginStore } from './login.js';
import { pairingLoop, startPairing } from './pairing.js';
import { pump } from './pump.js';
import { setMe, state } from './state.js';
import { applySnapshot } from './stores.js';
import { http } from './transport.js';
import { applyUpdate } from './update.js';
import { render } from './ui.js';

export async function boot() {
  let login = null;
  try {
    login = await loginStore.load();
  } catch (err) {
    log('cannot read the stored login', err);
  }
  if (login && login.device) {
    state.login = login;
    const hello = await http('POST', '/hello', { body: { ...login, client: clientId }, retries: 8 });
    if (hello.loggedIn) {
      applyUpdate(window.WPP, hello.update);
      setMe(hello.me);
      applySnapshot(await http('GET', '/sync', { auth: true, retries: 8 }));
      await loadBlocklist();
      state.loggedIn = true;
    } else {
      // Unlinked while this profile was closed: forget it, show a QR (as WhatsApp does).
      log('stored login is gone:', hello.reason);
      state.login = null;
      await loginStore.clear().catch(() => {});
    }
  }
  if (!state.loggedIn) await startPairing();
  await sleep(Math.max(0, INJECT_AFTER_MS - (Date.now() - SCRIPT_START)));
  injected();
  await sleep(STAGE_GAP_MS);
  ready();
  await sleep(STAGE_GAP_MS);
  fullReady();
  if (state.loggedIn) pump();
  else pairingLoop();
}

export function injected() {
  state.injected = true;
  ev.emit('loader.injected');
  // Event sources attached at injection emit their current values (as wa-js 4.6.0 does).
  if (state.loggedIn) {
    state.mode = 'MAIN';
    state.info = 'NORMAL';
    state.mainLoaded = true;
    ev.emit('conn.stream_mode_changed', 'MAIN');
    ev.emit('conn.stream_info_changed', 'NORMAL');
    ev.emit('conn.auth_code_change', null);
    ev.emit('conn.main_loaded');
  } else {
    state.mode = 'QR';
    state.info = 'PAIRING';
    ev.emit('conn.stream_mode_changed', 'QR');
    ev.emit('conn.stream_info_changed', 'PAIRING');
    ev.emit('conn.auth_code_change', state.authCode);
    requireAuth();
    if (state.idle) ev.emit('conn.qrcode_idle');
  }
  render();
}

export function ready() {
  state.mainInit = true;
  state.ready = true;
  ev.emit('conn.main_init');
  ev.emit('loader.ready');
}

export function fullReady() {
  // conn.main_ready: first time the stream mode is MAIN or QR, once per document.
  state.mainReady = true;
  ev.emit('conn.main_ready');
  state.fullReady = true;
  ev.emit('loader.full_ready');
  render();
}

export function requireAuth() {
  if (state.requireAuthSent) return;
  state.requireAuthSent = true;
  ev.emit('conn.require_auth');
}
