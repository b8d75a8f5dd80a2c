/* Same-origin JSON requests to the sandbox server, and the stall switch for tests. */

import { API, sleep } from './base.js';
import { ServerError, WPPError } from './errors.js';
import { state } from './state.js';

/** Same-origin JSON request; retries network/5xx failures `retries` times. */
export async function http(method, path, { body, auth = false, retries = 0 } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth && state.login) {
    headers['X-Sandbox-Device'] = state.login.device;
    headers['X-Sandbox-Token'] = state.login.token;
  }
  for (let attempt = 0; ; attempt++) {
    let response;
    try {
      response = await fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'same-origin',
      });
    } catch (err) {
      if (attempt >= retries) throw new ServerError(0, 'network_error', String(err));
      await sleep(Math.min(5000, 200 * 2 ** attempt));
      continue;
    }
    const data = await response.json().catch(() => ({}));
    if (response.ok) return data;
    if (response.status >= 500 && attempt < retries) {
      await sleep(Math.min(5000, 200 * 2 ** attempt));
      continue;
    }
    const { code, message, ...extra } = data.error || {};
    throw new ServerError(response.status, code || 'http_' + response.status, message, extra);
  }
}

/** Turn a server refusal into the WPPError the real function would throw. */
export function asWPPError(err) {
  if (err instanceof ServerError && err.status > 0) return new WPPError(err.code, err.message);
  return err;
}

// The control API can make the next calls of a function hang (command-timeout tests).
export async function stallFor(name) {
  try {
    const answer = await http('GET', '/stall?fn=' + encodeURIComponent(name));
    if (answer.seconds > 0) await sleep(answer.seconds * 1000);
  } catch (e) {
    // the stall switch is a test aid; never let it break a call
  }
}

/** An async WPP function named `name` (the stall switch's key), with impl's parameters.
 * @template {(...args: any[]) => any} F
 * @param {string} name @param {F} impl
 * @returns {(...args: Parameters<F>) => Promise<Awaited<ReturnType<F>>>} */
export function asyncApi(name, impl) {
  const fn = async function (...args) {
    await stallFor(name);
    return impl.apply(this, args);
  };
  Object.defineProperty(fn, 'name', { value: name.split('.').pop() });
  return fn;
}
