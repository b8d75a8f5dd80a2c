/* WPP.blocklist: whom this account blocked (wa-js 4.6.0 dist/blocklist/functions/*.d.ts). */

import { resolveLid } from './chat.js';
import { assertWid, createWid } from './ids.js';
import { eventHandlers } from './pump.js';
import { asWPPError, asyncApi, http } from './transport.js';

const blocked = new Set(); // "<digits>@c.us", as WhatsApp's BlocklistStore keeps them

function replace(list) {
  blocked.clear();
  for (const id of list || []) blocked.add(id);
}

/** Boot: the list arrives with the login, as WhatsApp Web's BlocklistStore does. */
export async function loadBlocklist() {
  replace((await http('GET', '/blocklist', { auth: true, retries: 8 })).blocked);
}

// Another device of the account (its phone) changed the list.
eventHandlers.blocklist = (event) => replace(event.blocked);

async function change(chatId, block) {
  const wid = resolveLid(assertWid(chatId));
  try {
    replace((await http('POST', '/blocklist', { auth: true,
      body: { phone: wid.user, blocked: block } })).blocked);
  } catch (err) {
    throw asWPPError(err);
  }
  return { wid, isBlocked: blocked.has(wid._serialized) };
}

export const blocklist = {
  all: () => Array.from(blocked).map((id) => createWid(id)),
  isBlocked: (chatId) => blocked.has(resolveLid(assertWid(chatId))._serialized),
  blockContact: asyncApi('blocklist.blockContact', (chatId) => change(chatId, true)),
  unblockContact: asyncApi('blocklist.unblockContact', (chatId) => change(chatId, false)),
};
