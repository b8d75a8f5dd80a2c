/* WPP.contact: contacts and number lookups. */

import { resolveLid } from './chat.js';
import { assertWid, createWid } from './ids.js';
import { store } from './stores.js';
import { asyncApi, http } from './transport.js';

export async function queryWidExists(contactId) {
  const wid = assertWid(contactId);
  const target = resolveLid(wid);
  if (!target.isUser() || target.isLid()) return null;
  const known = store.contacts.get(target._serialized);
  if (known) {
    return { wid: known.id, biz: !!known.isBusiness,
      lid: known.__lid ? createWid(known.__lid) : undefined };
  }
  try {
    const answer = await http('GET', '/exists?phone=' + encodeURIComponent(target.user));
    const r = answer.result;
    return r ? { wid: createWid(r.wid), biz: !!r.biz, lid: createWid(r.lid) } : null;
  } catch (e) {
    return null; // never rejects except for invalid_wid
  }
}

export const contact = {
  list: asyncApi('contact.list', async (options = {}) => {
    let contacts = Array.from(store.contacts.values());
    if (options.onlyMyContacts) contacts = contacts.filter((c) => c.isMyContact);
    return contacts;
  }),
  get: asyncApi('contact.get', async (contactId) => {
    const wid = resolveLid(assertWid(contactId));
    return store.contacts.get(wid._serialized);
  }),
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
