/* The WPP object: the wa-js 4.6.0 surface the gateway uses, assembled from the modules. */

import { call } from './call.js';
import { blocklist } from './blocklist.js';
import { chat, forwardMessagesToChats } from './chat.js';
import { community } from './community.js';
import { chatStateApi, installChatState } from './chatstate.js';
import { conn } from './conn.js';
import { contact, serverQueryWidExists } from './contact.js';
import { ev } from './events.js';
import { group } from './group.js';
import { MsgKey, Wid, assertWid } from './ids.js';
import { takeover } from './pump.js';
import { installLabels, isBusiness, labels } from './labels.js';
import { newsletter } from './newsletter.js';
import { profile } from './profile.js';
import { state } from './state.js';
import { getMessageACK, status } from './status.js';
import { asyncApi } from './transport.js';
import { util } from './util.js';

export const WPP = {
  __sandbox: true,
  version: '4.6.0',
  supportedWhatsappWeb: '>=2.3000.1038792969-alpha',
  license: 'Apache-2.0',
  dev: undefined,
  ev,
  call,
  conn: Object.assign(conn, chatStateApi.conn),
  chat: Object.assign(chat, chatStateApi.chat,
    { getMessageACK: asyncApi('chat.getMessageACK', getMessageACK) }),
  contact: Object.assign(contact, chatStateApi.contact),
  group,
  community,
  util,
  blocklist,
  labels,
  newsletter,
  status,
  profile: Object.assign(profile, { isBusiness }),
  loader: {
    loaderType: 'meta',
    onInjected: futureOnly('loader.injected'),
    onReady: futureOnly('loader.ready'),
    onFullReady: futureOnly('loader.full_ready'),
    get isInjected() { return state.injected; },
    get isReady() { return state.ready; },
    get isFullReady() { return state.fullReady; },
  },
  whatsapp: { MsgKey, Wid, WidFactory: { createWid: (x) => assertWid(x) },
    functions: { queryWidExists: serverQueryWidExists, forwardMessagesToChats },
    Socket: { takeover: () => takeover() } },
};
for (const name of ['cart', 'catalog', 'indexdb', 'lists', 'order', 'privacy']) {
  WPP[name] = {};
}
installChatState(); // presence subscriptions, the server's chat events
installLabels(); // the server's label events
for (const name of ['on', 'off', 'once', 'many', 'onAny', 'offAny', 'emit', 'waitFor',
  'removeAllListeners', 'listeners', 'listenerCount', 'eventNames', 'prependListener']) {
  WPP[name] = ev[name].bind(ev);
}
WPP.addListener = WPP.on;
WPP.removeListener = WPP.off;
Object.defineProperty(WPP, 'isInjected', { get: () => state.injected, enumerable: true });
Object.defineProperty(WPP, 'isReady', { get: () => state.ready, enumerable: true });
Object.defineProperty(WPP, 'isFullReady', { get: () => state.fullReady, enumerable: true });

/** loader.onX(listener, delay): future events only, as in wa-js. */
export function futureOnly(eventName) {
  return (listener, delay = 0) => {
    ev.once(eventName, () => setTimeout(listener, delay));
  };
}
