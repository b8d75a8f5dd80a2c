/* WPP.status: the account's status posts (stories), wa-js 4.6.0 dist/status/functions/*.d.ts,
 * and WPP.chat.getMessageACK for who viewed one. A status goes to the account's contacts
 * (the server picks them) and is gone 24 h later (the server's clock says when). */

import { newMessageId, unixTime } from './base.js';
import { BASE64_RE, bytesToBase64, contentBytes, getMessageById, sniff } from './chat.js';
import { WPPError } from './errors.js';
import { MsgKey, createWid } from './ids.js';
import { Collection, MsgModel } from './models.js';
import { state } from './state.js';
import { msgFromView, storeMessage } from './stores.js';
import { asWPPError, asyncApi, http } from './transport.js';

const STATUS = 'status@broadcast';

/** assertColor (wa-js 4.6.0): WhatsApp's ARGB number of '#RRGGBB', '#AARRGGBB' or a number. */
function assertColor(color) {
  if (typeof color === 'number') return color > 0 ? color : 4294967295 + Number(color) + 1;
  if (typeof color !== 'string') {
    throw new WPPError('invalid_color', `Invalid Color value for ${color}`, { color });
  }
  let hex = color.trim().replace('#', '');
  if (hex.length <= 6) hex = 'FF' + hex.padStart(6, '0');
  return parseInt(hex, 16);
}

/** sendRawStatus: the model goes to the account's status list, then to the server. */
async function sendStatus(attrs, options, upload) {
  if (!state.loggedIn) throw new Error('Not logged in');
  const key = new MsgKey({ fromMe: true, remote: createWid(STATUS), id: newMessageId(),
    participant: createWid(state.me.wid) });
  const msg = new MsgModel(Object.assign({ id: key, t: unixTime(), from: createWid(state.me.wid),
    to: createWid(STATUS), self: 'out', isNewMsg: true, local: true, ack: 0 }, attrs));
  const payload = { id: key.id, type: attrs.type, body: attrs.body, font: attrs.font,
    backgroundColor: attrs.backgroundColor, caption: attrs.caption, mimetype: attrs.mimetype,
    filename: attrs.filename };
  if (upload) payload.data = bytesToBase64(upload);
  let answer;
  try {
    answer = await http('POST', '/status', { auth: true, body: payload, retries: 3 });
  } catch (err) {
    throw asWPPError(err);
  }
  msg.t = answer.t;
  msg.ack = 1;
  storeMessage(msg);
  return { id: key._serialized, ack: 1, from: String(state.me.wid), to: STATUS,
    sendMsgResult: { messageSendResult: 'OK' } };
}

async function sendMediaStatus(content, options, kind) {
  if (typeof content === 'string' && !content.startsWith('data:') && !BASE64_RE.test(content)
    && !/^https?:\/\//.test(content)) throw 'invalid_data_url';
  const file = await contentBytes(content);
  const sniffed = sniff(file.bytes);
  const mimetype = file.mime || (sniffed ? sniffed.mime : 'application/octet-stream');
  return sendStatus({ type: kind, body: '', caption: (options && options.caption) || undefined,
    mimetype, size: file.bytes.length }, options, file.bytes);
}

export const status = {
  sendTextStatus: asyncApi('status.sendTextStatus', async (content, options = {}) => {
    let color = assertColor('#000000');
    if (['number', 'string'].includes(typeof options.backgroundColor)) color = assertColor(options.backgroundColor);
    const font = options.font && options.font >= 0 && options.font <= 5 ? options.font : 0;
    return sendStatus({ type: 'chat', body: String(content), font, backgroundColor: color }, options);
  }),
  sendImageStatus: asyncApi('status.sendImageStatus', (content, options = {}) =>
    sendMediaStatus(content, options, 'image')),
  sendVideoStatus: asyncApi('status.sendVideoStatus', (content, options = {}) =>
    sendMediaStatus(content, options, 'video')),
  /** StatusV3Model of the account: `msgs` holds its statuses still up (24 h). */
  getMyStatus: asyncApi('status.getMyStatus', async () => {
    const answer = await http('GET', '/status/mine', { auth: true });
    const msgs = answer.statuses.map((view) => storeMessage(msgFromView(view, false)));
    return { id: createWid(state.me.wid), t: msgs.length ? msgs[msgs.length - 1].t : 0,
      // WhatsApp's MsgLoad collection: the sandbox's Collection has what readers use
      unreadCount: 0, totalCount: msgs.length, msgs: /** @type {any} */ (new Collection(msgs)) };
  }),
  remove: asyncApi('status.remove', async (msgId) => {
    const msg = await getMessageById(msgId);
    try {
      await http('POST', `/status/${msg.id.id}/revoke`, { auth: true, body: {} });
    } catch (err) {
      throw new WPPError('error_on_remove_status', `Error on remove status with id ${String(msgId)}`);
    }
    msg.type = 'revoked';
    return true;
  }),
};

/** chat.getMessageACK: who a message of the account's reached and read (a status: viewed). */
export async function getMessageACK(msgId) {
  const msg = await getMessageById(msgId);
  if (!msg.id.remote.isStatusV3()) {
    throw new WPPError('msg_not_found', 'The sandbox keeps receipts of status posts only', { id: msgId });
  }
  const answer = await http('GET', `/status/${msg.id.id}/viewers`, { auth: true }).catch((err) => {
    throw asWPPError(err);
  });
  const participants = answer.participants.map((p) => ({ id: p.id, wid: createWid(p.id),
    deliveredAt: p.deliveredAt || undefined, readAt: p.readAt || undefined }));
  return { ack: msg.ack, fromMe: msg.id.fromMe, deliveryRemaining: 0,
    readRemaining: answer.readRemaining, playedRemaining: 0, participants };
}
