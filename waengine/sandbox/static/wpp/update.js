/* A WhatsApp Web update (control API /phones/{phone}/wa-update): the build this page loads
 * lacks some functions wa-js exposes, or has them under new names, and reports its own version.
 * Applied once, before wa-js reports itself injected, as a new build would be. */

import { log } from './base.js';

/** @param {any} WPP @param {{remove?: string[], rename?: Object<string, string>, version?: string}|null} update */
export function applyUpdate(WPP, update) {
  if (!update) return;
  for (const name of update.remove || []) {
    const [ns, fn] = name.split('.');
    if (WPP[ns]) delete WPP[ns][fn];
  }
  for (const [from, to] of Object.entries(update.rename || {})) {
    const [ns, fn] = from.split('.');
    const [nsTo, fnTo] = to.split('.');
    if (!WPP[ns] || !(fn in WPP[ns])) continue;
    WPP[nsTo] = WPP[nsTo] || {};
    WPP[nsTo][fnTo] = WPP[ns][fn];
    delete WPP[ns][fn];
  }
  if (update.version) {
    const constants = WPP.conn.getBuildConstants;
    const version = update.version;
    const [primary, secondary, tertiary] = version.split('.');
    WPP.conn.getBuildConstants = () => Object.assign({}, constants(), {
      VERSION_STR: version, VERSION_BASE: version, VERSION_PRIMARY: primary,
      VERSION_SECONDARY: secondary, VERSION_TERTIARY: tertiary });
  }
  log('WhatsApp Web update applied', update);
}
