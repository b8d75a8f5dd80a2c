/*
 * waengine sandbox: an in-page `window.WPP` imitating @wppconnect/wa-js 4.6.0.
 *
 * The shapes, names, sync/async split, error codes and events follow wa-js 4.6.0 (the subset
 * docs/sandbox.md lists), so the gateway's code runs unchanged against this page and against
 * real WhatsApp Web + wa-js. The "network" lives on the sandbox server; this page talks to it
 * over same-origin HTTP (long-polling, see wpp/pump.js).
 *
 * This entry and the modules in wpp/ load as ES modules from files (no inline script, so the
 * page works under `Content-Security-Policy: script-src 'self'`). Modules run once per document
 * and after it is parsed: WPP appears then with every readiness flag false, and the flags flip
 * later, after the login state is known (as wa-js, which also arrives after the page).
 */

import { WPP } from './wpp/api.js';
import { API, pageOptions, sleep } from './wpp/base.js';
import { boot } from './wpp/boot.js';
import { makeConfig } from './wpp/config.js';
import { state } from './wpp/state.js';
import { bindUi, render } from './wpp/ui.js';
import { applyWeight } from './wpp/weight.js';

window.WPP = WPP;
WPP.config = makeConfig();

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', bindUi);
else bindUi();
window.addEventListener('pagehide', () => {
  if (state.pairing && !state.login) navigator.sendBeacon(`${API}/pairing/${state.pairing}/close`);
});

(async function start() {
  try {
    await applyWeight(pageOptions); // WhatsApp Web loads its own code and stores first
  } catch (err) {
    console.error('[sandbox] page weight', err);
  }
  for (let attempt = 0; ; attempt++) {
    try {
      await boot();
      return;
    } catch (err) {
      console.error('[sandbox] boot failed', err);
      state.statusText = 'Cannot reach the sandbox server; retrying…';
      render();
      await sleep(Math.min(5000, 500 * 2 ** attempt));
      if (state.injected) return location.reload(); // a half-booted document: start clean
    }
  }
})();