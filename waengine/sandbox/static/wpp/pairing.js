/* Pairing: the QR (rotating refs) or a pairing code, until a phone links. */

import { WPP } from './api.js';
import { POLL_SECONDS, RELOAD_AFTER_LINK_MS, clientId, pageOptions, sleep } from './base.js';
import { ev } from './events.js';
import { onCodeExpired } from './linkcode.js';
import { loginStore } from './login.js';
import { handleLogout } from './logout.js';
import { pump } from './pump.js';
import { setMe, setStream, state } from './state.js';
import { applySnapshot } from './stores.js';
import { http } from './transport.js';
import { render } from './ui.js';

export async function startPairing() {
  const deviceName = typeof WPP.config.deviceName === 'string' ? WPP.config.deviceName : null;
  const answer = await http('POST', '/pairing', { body: { deviceName }, retries: 8 });
  state.pairing = answer.pairing;
  applyPairing(answer);
}

/** Apply a pairing answer; emit auth-code events when the ref changed. */
export function applyPairing(answer) {
  if (answer.linked) return onLinked(answer.linked);
  if (state.linkCode && answer.linkCode !== state.linkCode) {
    // WhatsApp expired the code the phone was to type: the managed flow asks for a new one.
    const expired = state.linkCode;
    state.linkCode = answer.linkCode || null;
    onCodeExpired(expired);
  }
  const code = answer.authCode;
  const changed = (code && code.ref) !== (state.authCode && state.authCode.ref);
  state.authCode = code;
  if (changed && state.injected) ev.emit('conn.auth_code_change', code);
  if (answer.idle && !state.idle) {
    state.idle = true;
    if (state.injected) ev.emit('conn.qrcode_idle');
  } else if (!answer.idle) {
    state.idle = false;
  }
  render();
  return null;
}

export async function pairingLoop() {
  while (!state.loggedIn && !state.stopped && !state.login) {
    const ref = (state.authCode && state.authCode.ref) || '';
    const code = state.linkCode || '';
    const pairing = state.pairing;
    try {
      const answer = await http('GET', `/pairing/${pairing}?ref=${encodeURIComponent(ref)}`
        + `&code=${encodeURIComponent(code)}&timeout=${POLL_SECONDS}`);
      if (pairing === state.pairing) await applyPairing(answer);
      if (answer.closed) return;
    } catch (err) {
      if (err.code === 'pairing_not_found') {
        await startPairing().catch(() => sleep(1000)); // the server was reset
      } else {
        await sleep(1000);
      }
    }
  }
}

export async function onLinked(linked) {
  if (state.login) return; // already handled
  // keys: the key state this profile holds (pump.js; the sandbox's network/keystate.py)
  state.login = { device: linked.device, token: linked.token, phone: linked.phone, keys: 0 };
  state.authCode = null;
  state.linkCode = null;
  ev.emit('conn.authenticated');
  setStream('SYNCING', 'SYNCING');
  ev.emit('conn.auth_code_change', null);
  await loginStore.save(state.login);
  if (pageOptions.reloadAfterScan) {
    state.statusText = 'Linked. Loading your chats…';
    render();
    setTimeout(() => location.reload(), RELOAD_AFTER_LINK_MS);
    return;
  }
  // Without a reload: finish the login in this document (main_ready already fired).
  const hello = await http('POST', '/hello', { body: { ...state.login, client: clientId }, retries: 8 });
  if (!hello.loggedIn) return handleLogout(hello.reason);
  setMe(hello.me);
  applySnapshot(await http('GET', '/sync', { auth: true, retries: 8 }));
  state.loggedIn = true;
  state.mainLoaded = true;
  setStream('MAIN', 'NORMAL');
  ev.emit('conn.main_loaded');
  pump();
}
