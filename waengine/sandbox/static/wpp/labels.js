/* WPP.labels and WPP.profile.isBusiness as wa-js 4.6.0 has them (dist/labels/functions/
 * {getAllLabels,addNewLabel,addOrRemoveLabels,getLabelColorPalette}.d.ts, dist/labels/types.d.ts,
 * dist/profile/functions/isBusiness.d.ts).
 *
 * As in wa-js: addNewLabel and addOrRemoveLabels throw is_not_business on a personal account
 * (assertIsBusiness), getAllLabels does not (it reads the label store: empty there);
 * addOrRemoveLabels needs every chat in the store (chat_not_found).
 */

import { assertGetChat } from './chat.js';
import { WPPError } from './errors.js';
import { ev } from './events.js';
import { eventHandlers } from './pump.js';
import { state } from './state.js';
import { upsertChat } from './stores.js';
import { asWPPError, asyncApi, http } from './transport.js';
import { render } from './ui.js';

// WhatsApp Business's label palette (colorIndex -> colour)
const PALETTE = ['#ff9485', '#64c4ff', '#ffd429', '#dfaef0', '#99b6c1', '#55ccb3', '#ff9dff',
  '#d3a91d', '#6d7cce', '#d7e752', '#00d0e2', '#ffc5c7', '#93ceac', '#f74848', '#00a0f2',
  '#83e422', '#ffaf04', '#b5ebff', '#9ba6ff', '#9368cf'];

let labelStore = []; // [{id, name, colorIndex, count}] as the server last said

function assertIsBusiness() {
  if (!(state.me && state.me.business)) {
    throw new WPPError('is_not_business', 'This account is not a business version');
  }
}

function labelOf(view) {
  return { id: String(view.id), name: view.name, color: null, count: view.count || 0,
    hexColor: PALETTE[view.colorIndex] || PALETTE[0], colorIndex: view.colorIndex };
}

async function load() {
  const answer = await http('GET', '/labels', { auth: true, retries: 3 });
  labelStore = answer.labels;
}

async function getAllLabels() {
  if (!state.loggedIn) return [];
  await load();
  return labelStore.map(labelOf);
}

async function addNewLabel(labelName, options = {}) {
  assertIsBusiness();
  // wa-js 4.6.0: `labelColor || undefined`, so 0 (like none) means "choose one"
  let color = options.labelColor || undefined;
  if (color === undefined) color = labelStore.length % PALETTE.length;
  if (typeof color === 'string' && color.length > 2) color = PALETTE.indexOf(color.toLowerCase());
  color = parseInt(String(color), 10);
  if (!(color >= 0 && color < PALETTE.length)) throw new WPPError('color_not_in_pallet', 'Color not in pallet');
  try {
    const view = await http('POST', '/labels', { auth: true, body: { name: labelName, colorIndex: color } });
    await load();
    return labelOf(view);
  } catch (err) {
    throw asWPPError(err);
  }
}

async function addOrRemoveLabels(chatIds, options) {
  assertIsBusiness();
  const ids = Array.isArray(chatIds) ? chatIds : [chatIds];
  const ops = (Array.isArray(options) ? options : [options]).map((o) => ({ id: o.labelId, type: o.type }));
  const chats = ids.map((id) => assertGetChat(id));
  let answer;
  try {
    answer = await http('POST', '/labels/apply', { auth: true,
      body: { chats: chats.map((c) => c.id._serialized), ops } });
  } catch (err) {
    throw asWPPError(err);
  }
  answer.chats.forEach(upsertChat);
  labelStore = answer.labels;
  for (const type of ['add', 'remove']) {
    const changed = ops.filter((o) => o.type === type);
    if (!changed.length) continue;
    const labels = labelStore.filter((l) => changed.some((o) => String(o.id) === l.id)).map(labelOf);
    for (const c of chats) ev.emit('chat.update_label', { chat: c, ids: changed.map((o) => String(o.id)), labels, type });
  }
  render();
  return answer;
}

/** WPP.labels (api.js). */
export const labels = {
  getAllLabels: asyncApi('labels.getAllLabels', getAllLabels),
  addNewLabel: asyncApi('labels.addNewLabel', addNewLabel),
  addOrRemoveLabels: asyncApi('labels.addOrRemoveLabels', addOrRemoveLabels),
  getLabelColorPalette: asyncApi('labels.getLabelColorPalette', async () => PALETTE.slice()),
  colorIsInLabelPalette: asyncApi('labels.colorIsInLabelPalette', async (color) => {
    assertIsBusiness();
    return PALETTE.includes(String(color)) || PALETTE[parseInt(String(color), 10)] !== undefined;
  }),
};

/** WPP.profile.isBusiness: Conn.isSMB, the account's business flag. */
export const isBusiness = () => !!(state.me && state.me.business);

/** The server's label events. */
export function installLabels() {
  eventHandlers.labels = (event) => { labelStore = event.labels; };
}
