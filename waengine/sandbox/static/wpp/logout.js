/* Logout: from the page (WPP.conn.logout) or from the phone. */

import { RELOAD_AFTER_LOGOUT_MS, log } from './base.js';
import { ev } from './events.js';
import { loginStore } from './login.js';
import { state } from './state.js';
import { render } from './ui.js';

export async function handleLogout(reason) {
  if (state.loggingOut) return;
  state.loggingOut = true;
  state.stopped = true;
  ev.emit('conn.logout_reason', reason || 'user_initiated');
  ev.emit('conn.logout');
  state.loggedIn = false;
  state.login = null;
  state.statusText = 'Logged out. Reloading…';
  render();
  await loginStore.clear().catch((err) => log('cannot clear the login', err));
  setTimeout(() => location.reload(), RELOAD_AFTER_LOGOUT_MS);
}
