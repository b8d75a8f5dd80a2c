/* Constants and small helpers shared by every module of the sandbox page. */

export const API = '/_sandbox/api';
export const SCRIPT_START = Date.now();
export const INJECT_AFTER_MS = 600; // like wa-js waiting for WhatsApp's modules to settle
export const STAGE_GAP_MS = 250; // injected -> ready -> full_ready
export const RELOAD_AFTER_LINK_MS = 500;
export const RELOAD_AFTER_LOGOUT_MS = 1000; // leave the gateway time to drain conn.logout
export const POLL_SECONDS = 25;
export const IDB_NAME = 'waengine-sandbox';
export const IDB_STORE = 'login';
export const IDB_KEY = 'current';

export const pageOptions = readPageOptions();
export const clientId = 'c' + randomHex(12);


export function readPageOptions() {
  const meta = document.querySelector('meta[name="sandbox-options"]');
  try {
    return Object.assign({ reloadAfterScan: true }, meta ? JSON.parse(meta.content) : {});
  } catch (e) {
    return { reloadAfterScan: true };
  }
}

export function randomHex(chars) {
  const bytes = new Uint8Array(Math.ceil(chars / 2));
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('').slice(0, chars);
}

export function newMessageId() {
  return ('3EB0' + randomHex(16)).toUpperCase();
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function unixTime() {
  return Math.floor(Date.now() / 1000);
}

export function log(...args) {
  console.debug('[sandbox]', ...args);
}
