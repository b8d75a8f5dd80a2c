/* The login kept in IndexedDB, so a restarted browser comes back logged in. */

import { IDB_KEY, IDB_NAME, IDB_STORE } from './base.js';

export function idbRequest(mode, action) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open(IDB_NAME, 1);
    open.onupgradeneeded = () => open.result.createObjectStore(IDB_STORE);
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const db = open.result;
      // 'strict' makes Chromium flush at commit: a killed browser keeps the login.
      const tx = db.transaction(IDB_STORE, mode, { durability: 'strict' });
      const request = action(tx.objectStore(IDB_STORE));
      let result;
      request.onsuccess = () => { result = request.result; };
      tx.oncomplete = () => { db.close(); resolve(result); };
      tx.onerror = tx.onabort = () => { db.close(); reject(tx.error); };
    };
  });
}

export const loginStore = {
  load: () => idbRequest('readonly', (s) => s.get(IDB_KEY)),
  save: (login) => idbRequest('readwrite', (s) => s.put(login, IDB_KEY)),
  clear: () => idbRequest('readwrite', (s) => s.delete(IDB_KEY)),
};
