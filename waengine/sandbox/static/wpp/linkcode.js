/* The managed pairing-code flow of wa-js 4.6.0 (conn/functions/linkDeviceCodeLifecycle.d.ts):
 * startLinkDeviceCodeForPhoneNumber reuses the active code for the same phone and refreshes it
 * when WhatsApp says it expired (here: the sandbox server's pairing poll) or after 195 s, at
 * most 5 times, emitting conn.link_code_change / conn.link_code_expired / conn.link_code_error.
 * It is cancelled by conn.authenticated, conn.logout and conn.main_ready, as in the bundle. */

import { ev } from './events.js';

const REFRESH_AFTER_MS = 195000;
const MAX_REFRESHES = 5;
const flow = { code: null, epoch: 0, inFlight: null, phone: null, refreshCount: 0,
  sendPushNotification: true, timer: null };
let generate = null; // conn.genLinkDeviceCodeForPhoneNumber, set by conn.js (no import cycle)

export function useGenerator(fn) {
  generate = fn;
}

function clearTimer() {
  if (flow.timer) clearTimeout(flow.timer);
  flow.timer = null;
}

function fail(err) {
  ev.emit('conn.link_code_error', err instanceof Error ? err : new Error(String(err)));
}

function expire() {
  clearTimer();
  flow.code = null;
  ev.emit('conn.link_code_expired');
}

function schedule(ms = REFRESH_AFTER_MS) {
  clearTimer();
  const epoch = flow.epoch;
  flow.timer = setTimeout(() => {
    if (epoch === flow.epoch && flow.phone) refreshOrExpire();
  }, ms);
}

function refreshOrExpire() {
  if (!flow.phone) return;
  if (flow.refreshCount >= MAX_REFRESHES) { expire(); return; }
  flow.refreshCount++;
  refreshLinkDeviceCode().catch(() => {});
}

async function request() {
  if (!flow.phone) throw new Error('No phone linking flow is active');
  if (flow.inFlight) return flow.inFlight;
  const epoch = flow.epoch;
  const pending = generate(flow.phone, flow.sendPushNotification).then((code) => {
    if (epoch === flow.epoch) {
      flow.code = code;
      schedule();
      ev.emit('conn.link_code_change', code);
    }
    return code;
  });
  flow.inFlight = pending;
  try {
    return await pending;
  } finally {
    if (flow.inFlight === pending) flow.inFlight = null;
  }
}

export async function startLinkDeviceCodeForPhoneNumber(phone, sendPushNotification = true) {
  if (flow.phone === phone) {
    if (flow.code) return flow.code;
    if (flow.inFlight) return flow.inFlight;
  } else {
    cancelLinkDeviceCode();
  }
  flow.phone = phone;
  flow.sendPushNotification = sendPushNotification;
  flow.refreshCount = 0;
  try {
    return await request();
  } catch (err) {
    flow.code = null;
    fail(err);
    throw err;
  }
}

export async function refreshLinkDeviceCode() {
  if (!flow.phone) throw new Error('No phone linking flow is active');
  if (flow.inFlight) await flow.inFlight;
  clearTimer();
  flow.code = null;
  try {
    return await request();
  } catch (err) {
    fail(err);
    throw err;
  }
}

export function cancelLinkDeviceCode() {
  flow.epoch++;
  clearTimer();
  flow.code = null;
  flow.inFlight = null;
  flow.phone = null;
  flow.refreshCount = 0;
  flow.sendPushNotification = true;
}

/** WhatsApp's link_device_events:refresh_alt_linking_code: the code it showed expired. */
export function onCodeExpired(code) {
  if (flow.phone && flow.code === code) refreshOrExpire();
}

for (const name of ['conn.authenticated', 'conn.logout', 'conn.main_ready']) {
  ev.on(name, cancelLinkDeviceCode);
}
