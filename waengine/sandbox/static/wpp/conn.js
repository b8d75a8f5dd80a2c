/* WPP.conn: the connection and the login. */

import { log } from './base.js';
import { WPPError } from './errors.js';
import { createWid } from './ids.js';
import { handleLogout } from './logout.js';
import { cancelLinkDeviceCode, refreshLinkDeviceCode, startLinkDeviceCodeForPhoneNumber,
  useGenerator } from './linkcode.js';
import { applyPairing } from './pairing.js';
import { state } from './state.js';
import { asWPPError, asyncApi, http } from './transport.js';
import { render } from './ui.js';

export function myWid() {
  return state.loggedIn && state.me ? createWid(state.me.wid) : undefined;
}

export const conn = {
  getAuthCode: asyncApi('conn.getAuthCode', async () =>
    (state.loggedIn || state.login || state.idle ? null : state.authCode)),
  refreshQR: asyncApi('conn.refreshQR', async () => {
    if (state.loggedIn || state.login) return null;
    const answer = await http('POST', `/pairing/${state.pairing}/refresh`, { retries: 3 });
    applyPairing(answer);
    return state.authCode;
  }),
  isAuthenticated: () => state.loggedIn,
  isRegistered: () => state.loggedIn,
  isMainInit: () => state.mainInit,
  isMainLoaded: () => state.mainLoaded,
  isMainReady: () => state.mainReady,
  isIdle: () => !state.loggedIn && state.idle,
  isOnline: () => navigator.onLine,
  isMultiDevice: () => true,
  needsUpdate: () => state.needsUpdate === true, // WhatsApp's Stream.needsUpdate
  getPlatform: () => (state.loggedIn ? 'android' : undefined),
  getStreamData: () => ({ mode: state.mode, info: state.info }),
  getMyUserId: () => myWid(),
  getMyUserWid: () => myWid(),
  getMyDeviceId: () => myWid(),
  getMyUserLid: () => {
    if (!state.loggedIn || !state.me) throw new Error('getMeLidUserOrThrow: lid not found');
    return createWid(state.me.lid);
  },
  // WhatsApp's build constants: the version parts are strings, PARSED holds the numbers
  getBuildConstants: () => ({ VERSION_STR: '2.3000.1038792969', VERSION_BASE: '2.3000.1038792969',
    VERSION_PRIMARY: '2', VERSION_SECONDARY: '3000', VERSION_TERTIARY: '1038792969',
    WINDOWS_BUILD: '', PARSED: { PRIMARY: 2, SECONDARY: 3000, TERTIARY: 1038792969 } }),
  logout: asyncApi('conn.logout', async () => {
    if (!state.login) return true; // nothing to log out of (QR screen)
    await http('POST', '/logout', { auth: true, body: { reason: 'user_initiated' }, retries: 3 })
      .catch((err) => log('logout request failed', err));
    handleLogout('user_initiated');
    return true;
  }),
  genLinkDeviceCodeForPhoneNumber: asyncApi('conn.genLinkDeviceCodeForPhoneNumber',
    async (phone, sendPushNotification = true) => {
      if (!phone || typeof phone !== 'string') {
        throw new WPPError('send_the_phone_number_to_connect', 'Send the phone number to connect');
      }
      if (state.loggedIn || state.login) {
        throw new WPPError('cannot_get_code_for_already_authenticated',
          'Cannot get code for already authenticated');
      }
      try {
        const answer = await http('POST', `/pairing/${state.pairing}/code`,
          { body: { phone, push: !!sendPushNotification } });
        state.linkCode = answer.code;
        render();
        return answer.code;
      } catch (err) {
        throw asWPPError(err);
      }
    }),
  startLinkDeviceCodeForPhoneNumber: asyncApi('conn.startLinkDeviceCodeForPhoneNumber',
    startLinkDeviceCodeForPhoneNumber),
  refreshLinkDeviceCode: asyncApi('conn.refreshLinkDeviceCode', refreshLinkDeviceCode),
  cancelLinkDeviceCode,
  setKeepAlive: (enable = true) => {
    if (enable && !state.keepAliveTimer) {
      state.keepAliveTimer = setInterval(() => window.dispatchEvent(new Event('scroll')), 15000);
    } else if (!enable && state.keepAliveTimer) {
      clearInterval(state.keepAliveTimer);
      state.keepAliveTimer = null;
    }
    return !!state.keepAliveTimer;
  },
  markAvailable: asyncApi('conn.markAvailable', async () => true),
  markUnavailable: asyncApi('conn.markUnavailable', async () => true),
};
useGenerator(conn.genLinkDeviceCodeForPhoneNumber);
