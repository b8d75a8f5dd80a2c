/* A WhatsApp Web update (control API /phones/{phone}/wa-update): the build this page loads
 * lacks some functions wa-js exposes, or has them under new names, and reports its own version.
 * Applied once, before wa-js reports itself injected, as a new build would be. */

import { log } from './base.js';

/** @param {any} WPP @param {{remove?: string[], rename?: Object<string, string>, version?: string}|null} update */
export function applyUpdate(WPP, update) {
  if (!update) return;
  for (const name of update.remove || []) {
    const [space, fn] = place(WPP, name);
    if (space) delete space[fn];
  }
  for (const [from, to] of Object.entries(update.rename || {})) {
    const [space, fn] = place(WPP, from);
    if (!space || !(fn in space)) continue;
    const [spaceTo, fnTo] = place(WPP, to, true);
    spaceTo[fnTo] = space[fn];
    delete space[fn];
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

/** [the object holding a dotted name's last part (made with `create`), that part]. */
function place(WPP, name, create = false) {
  const parts = name.split('.');
  let space = WPP;
  for (const part of parts.slice(0, -1)) {
    if (!space[part] && create) space[part] = {};
    space = space[part];
    if (!space) return [null, null];
  }
  return [space, parts[parts.length - 1]];
}
