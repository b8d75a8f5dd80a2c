/* WPP.contact: contacts and number lookups. */

import { resolveLid } from './chat.js';
import { WPPError } from './errors.js';
import { assertWid, createWid } from './ids.js';
import { store } from './stores.js';
import { asyncApi, http } from './transport.js';

/**
 * WhatsApp's own number lookup (WPP.whatsapp.functions.queryWidExists, whatsapp/functions/
 * sendQueryExists.d.ts): resolves null when the number is not on WhatsApp, rejects when the
 * query itself fails.
 */
export async function serverQueryWidExists(wid) {
  const target = assertWid(wid);
  const answer = await http('GET', '/exists?phone=' + encodeURIComponent(target.user),
    { auth: true });
  const r = answer.result;
  return r ? { wid: createWid(r.wid), biz: !!r.biz, lid: createWid(r.lid) } : null;
}

// wa-js 4.6.0 (module 94349) keeps each server answer as a promise: hits 5 min, misses and
// errors 15 s, so a failed lookup answers null again until the miss expires.
const lookups = new Map();

export async function queryWidExists(contactId) {
  const wid = assertWid(contactId);
  const target = resolveLid(wid);
  if (!target.isUser() || target.isLid()) return null;
  const known = store.contacts.get(target._serialized);
  if (known) {
    return { wid: known.id, biz: !!known.isBusiness,
      lid: known.__lid ? createWid(known.__lid) : undefined };
  }
  const cacheKey = '+' + target._serialized;
  if (lookups.has(cacheKey)) return lookups.get(cacheKey);
  const pending = serverQueryWidExists(target)
    .catch(() => null) // never rejects except for invalid_wid: any error is null
    .then((r) => {
      setTimeout(() => lookups.delete(cacheKey), r ? 300000 : 15000);
      return r;
    });
  lookups.set(cacheKey, pending);
  return pending;
}

function pnLidWid(wid) {
  return wid ? { id: wid.user, server: wid.server, _serialized: wid._serialized } : undefined;
}

/** contact/functions/getPnLidEntry.d.ts (wa-js 4.6.0): a @lid maps through the local cache
 * only; a phone id through the cache, else the server (queryExists). */
export async function getPnLidEntry(contactId) {
  const wid = assertWid(contactId);
  if (wid.server !== 'c.us' && wid.server !== 'lid') {
    throw new WPPError('invalid_wid',
      `Invalid WID value for ${wid} - getPnLidEntry only supports @c.us and @lid.`, { id: wid });
  }
  let lid;
  let pn;
  if (wid.isLid()) {
    lid = wid;
    pn = createWid(store.lids.get(wid._serialized));
  } else {
    pn = wid;
    lid = createWid(store.pns.get(wid._serialized));
    if (!lid) {
      const r = await queryWidExists(wid);
      lid = r && r.lid ? createWid(r.lid) : undefined;
    }
  }
  const c = store.contacts.get(String(lid || pn || wid));
  const info = c ? { name: c.name, shortName: c.shortName, pushname: c.pushname, type: c.type,
    verifiedName: c.verifiedName, isBusiness: c.isBusiness, isEnterprise: c.isEnterprise } : undefined;
  return { lid: pnLidWid(lid), phoneNumber: pnLidWid(pn), contact: info };
}

export const contact = {
  list: asyncApi('contact.list', async (options = {}) => {
    let contacts = Array.from(store.contacts.values());
    if (options.onlyMyContacts) contacts = contacts.filter((c) => c.isMyContact);
    return contacts;
  }),
  get: asyncApi('contact.get', async (contactId) => {
    const wid = assertWid(contactId); // exact, as ContactStore.get (wa-js module 93037)
    return store.contacts.get(wid._serialized);
  }),
  getPnLidEntry: asyncApi('contact.getPnLidEntry', getPnLidEntry),
  queryWidExists: asyncApi('contact.queryWidExists', queryWidExists),
  // dist/contact/functions/getProfilePictureUrl.d.ts: undefined when there is no photo
  getProfilePictureUrl: asyncApi('contact.getProfilePictureUrl', async (contactId, full = true) => {
    const wid = resolveLid(assertWid(contactId));
    const view = await http('GET', '/profile/' + encodeURIComponent(wid.user), { auth: true })
      .catch(() => null);
    if (!view || !view.picture) return undefined;
    return location.origin + view.picture + (full ? '' : '?preview=1');
  }),
  // dist/contact/functions/getStatus.d.ts: null for a number not on WhatsApp or no About
  getStatus: asyncApi('contact.getStatus', async (contactId) => {
    const wid = resolveLid(assertWid(contactId));
    if (!(await queryWidExists(wid))) return null;
    const view = await http('GET', '/profile/' + encodeURIComponent(wid.user), { auth: true });
    return view.about || null;
  }),
  queryExists: asyncApi('contact.queryExists', queryWidExists),
};
