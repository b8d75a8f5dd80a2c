/* The visible page: QR or chat list, and the status line. */

import { conn } from './conn.js';
import { state } from './state.js';
import { store } from './stores.js';

export function $(id) {
  return document.getElementById(id);
}

export function setText(id, text) {
  const el = $(id);
  if (el && el.textContent !== text) el.textContent = text;
}

/** Show what a person looking at WhatsApp Web would see: the QR or the chat list. */
export function render() {
  if (!document.body) return;
  const screen = state.loggedIn ? 'main' : state.login ? 'syncing' : 'qr';
  document.body.dataset.screen = screen;
  document.body.dataset.mode = state.mode || '';
  setText('status', statusLine());
  renderQr();
  if (state.loggedIn) renderMain();
}

export function statusLine() {
  if (state.loggingOut || state.login && !state.loggedIn) return state.statusText;
  if (state.loggedIn) {
    const me = state.me;
    return `Connected as ${me.name} (+${me.wid.user}) · stream ${state.mode}` +
      (state.info && state.info !== 'NORMAL' ? ` (${state.info})` : '');
  }
  if (!state.injected && !state.authCode) return state.statusText;
  if (state.idle) return 'QR code expired. Click "Reload QR code".';
  return 'To use WhatsApp on your computer: scan the QR code with your phone.';
}

export function renderQr() {
  const box = $('qr-box');
  if (!box) return;
  const code = !state.loggedIn && !state.idle && state.authCode ? state.authCode.fullCode : '';
  if (box.dataset.ref !== code) {
    box.dataset.ref = code;
    const img = $('qr-img');
    if (img) {
      if (code) img.src = '/_sandbox/qr.png?data=' + encodeURIComponent(code);
      else img.removeAttribute('src');
      img.hidden = !code;
    }
    setText('qr-text', code);
  }
  const reload = $('qr-reload');
  if (reload) reload.hidden = !(state.idle && !state.loggedIn);
  setText('link-code', state.linkCode ? `Pairing code: ${state.linkCode.slice(0, 4)}-${state.linkCode.slice(4)}` : '');
}

export let renderScheduled = false;

export function renderMain() {
  // Chat lists can be long: redraw at most once per frame.
  if (renderScheduled) return;
  renderScheduled = true;
  requestAnimationFrame(() => {
    renderScheduled = false;
    const list = $('chat-list');
    if (!list) return;
    const chats = Array.from(store.chats.values()).sort((a, b) => (b.t || 0) - (a.t || 0)).slice(0, 30);
    list.replaceChildren(...chats.map(chatItem));
    setText('me', `${state.me.name} · +${state.me.wid.user} · ${store.contacts.size} contacts · ${store.chats.size} chats`);
  });
}

export function chatItem(chatModel) {
  const li = document.createElement('li');
  const last = chatModel.msgs._models[chatModel.msgs._models.length - 1];
  const title = document.createElement('strong');
  title.textContent = chatModel.formattedTitle || String(chatModel.id);
  const preview = document.createElement('span');
  preview.textContent = last ? (last.id.fromMe ? '✓ ' : '') + (last.body || last.caption || `[${last.type}]`) : '';
  li.append(title, preview);
  if (chatModel.unreadCount > 0) {
    const badge = document.createElement('em');
    badge.textContent = String(chatModel.unreadCount);
    li.append(badge);
  }
  return li;
}

export function bindUi() {
  const reload = $('qr-reload');
  if (reload) reload.addEventListener('click', () => conn.refreshQR());
  render();
}
