/* WPP.config: the settings a host page sets in window.WPPConfig. */

import { ev } from './events.js';

export const CONFIG_DEFAULTS = {
  deviceName: false,
  liveLocationLimit: 10,
  disableGoogleAnalytics: false,
  googleAnalyticsId: null,
  googleAnalyticsUserProperty: {},
  linkPreviewApiServers: null,
  poweredBy: 'WA-JS',
  sendStatusToDevice: false,
  syncAllStatus: true,
};

export function makeConfig() {
  const values = Object.assign({}, CONFIG_DEFAULTS, window.WPPConfig || {});
  const proxy = new Proxy(values, {
    set(target, name, value) {
      target[name] = value;
      ev.emit('config.update', { key: name, value });
      return true;
    },
  });
  window.WPPConfig = proxy;
  return proxy;
}
