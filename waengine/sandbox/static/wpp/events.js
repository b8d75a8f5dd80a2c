/* The event emitter behind WPP.on / WPP.ev (EventEmitter2-like). */

/** EventEmitter2-like emitter: no wildcards, onAny, waitFor resolving the args array. */
export class Emitter {
  constructor() {
    this._listeners = new Map();
    this._any = [];
  }

  _list(event) {
    if (!this._listeners.has(event)) this._listeners.set(event, []);
    return this._listeners.get(event);
  }

  on(event, fn) {
    this._list(event).push({ fn, left: Infinity });
    return this;
  }

  prependListener(event, fn) {
    this._list(event).unshift({ fn, left: Infinity });
    return this;
  }

  once(event, fn) {
    return this.many(event, 1, fn);
  }

  many(event, times, fn) {
    this._list(event).push({ fn, left: times });
    return this;
  }

  off(event, fn) {
    const list = this._listeners.get(event);
    if (!list) return this;
    const index = list.findIndex((l) => l.fn === fn);
    if (index >= 0) list.splice(index, 1);
    return this;
  }

  removeAllListeners(event) {
    if (event === undefined) this._listeners.clear();
    else this._listeners.delete(event);
    return this;
  }

  onAny(fn) {
    this._any.push(fn);
    return this;
  }

  offAny(fn) {
    this._any = fn ? this._any.filter((f) => f !== fn) : [];
    return this;
  }

  listeners(event) {
    return (this._listeners.get(event) || []).map((l) => l.fn);
  }

  listenerCount(event) {
    return (this._listeners.get(event) || []).length;
  }

  eventNames() {
    return Array.from(this._listeners.keys()).filter((e) => this.listenerCount(e));
  }

  emit(event, ...args) {
    // A throwing listener must not break the page's own bookkeeping (event acks).
    for (const fn of this._any.slice()) {
      safeCall(fn, this, [event, ...args]);
    }
    const list = this._listeners.get(event);
    if (!list || !list.length) return this._any.length > 0;
    for (const l of list.slice()) {
      if (--l.left <= 0) this.off(event, l.fn);
      safeCall(l.fn, this, args);
    }
    return true;
  }

  waitFor(event, options) {
    const timeout = typeof options === 'number' ? options : (options && options.timeout) || 0;
    const filter = options && typeof options.filter === 'function' ? options.filter : null;
    return new Promise((resolve, reject) => {
      let timer = null;
      const listener = (...args) => {
        if (filter && !filter(...args)) return;
        this.off(event, listener);
        if (timer) clearTimeout(timer);
        resolve(args);
      };
      this.on(event, listener);
      if (timeout > 0) {
        timer = setTimeout(() => {
          this.off(event, listener);
          reject(new Error('timeout'));
        }, timeout);
      }
    });
  }
}

export function safeCall(fn, self, args) {
  try {
    fn.apply(self, args);
  } catch (err) {
    console.error('[sandbox] listener error', err);
  }
}

export const ev = new Emitter();
