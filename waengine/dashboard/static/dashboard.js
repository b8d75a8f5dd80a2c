// The waengine dashboard: a client of the public REST and SSE API, nothing else.
// The API key lives in sessionStorage (this tab only) and goes out in X-API-Key; event streams
// (EventSource cannot send headers) get a 60-second token from POST /auth/stream-token.

const BASE = document.body.dataset.apiBase || '';
const KEY_SLOT = 'waengine.apiKey';
const EVENT_TYPES = (document.body.dataset.eventTypes || 'session.status,qr,message').split(',');
const STATUS_ORDER = ['FAILED', 'CONFLICT', 'RECOVERING', 'SCAN_QR', 'STARTING', 'CONNECTED', 'STOPPED'];
const LOG_MAX = 200;
const ROW_POLL_MS = 15000; // memory and queue numbers change without events
const NODES_POLL_MS = 5000; // heartbeats and free capacity change without events

const state = {
  key: sessionStorage.getItem(KEY_SLOT),
  sessions: new Map(), // id -> session
  sort: { field: 'status', dir: 1 },
  detail: null, // the id shown in the session view
  qrExpires: null,
  feed: null, // the stream of every visible session
  nodes: [], // GET /nodes
  cluster: false, // more than one node, or nodes that advertise a URL (cluster mode)
  timers: [],
};

const $ = (sel) => document.querySelector(sel);
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k.startsWith('data-')) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
};

// ---- the API ----
class ApiError extends Error {
  constructor(status, error) {
    super((error && error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = error && error.code;
    this.details = (error && error.details) || {};
  }
}

async function api(method, path, body, accept) {
  // X-Requested-With: with auth off the gateway takes writes from a browser only with it
  // (or a JSON body): a custom header another site's page cannot send without asking.
  const headers = { 'X-Requested-With': 'waengine-dashboard' };
  if (state.key) headers['X-API-Key'] = state.key;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (accept) headers.Accept = accept;
  let resp;
  try {
    resp = await fetch(BASE + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store', credentials: 'omit',
    });
  } catch (err) {
    throw new ApiError(0, { message: `The gateway cannot be reached (${err.message})` });
  }
  if (resp.ok && accept === 'image/png') return resp.blob();
  const type = resp.headers.get('Content-Type') || '';
  const data = type.includes('json') ? await resp.json() : null;
  if (resp.status === 401 && state.started) signOut('Your API key is no longer accepted.');
  if (!resp.ok) throw new ApiError(resp.status, data && data.error);
  return data;
}

function describe(err) {
  const field = err.details && (err.details.field || Object.keys(err.details.json || {})[0]);
  return field ? `${err.message} (${field})` : err.message;
}

function showError(id, err) {
  const node = $(id);
  node.textContent = err ? describe(err) : '';
  node.hidden = !err;
}

// ---- formatting ----
const mb = (v) => (v == null ? '–' : `${Math.round(v)} MB`);

/** A session's memory budget and the ladder steps taken to keep it (ops/memory_ladder.py). */
function budgetText(budget) {
  if (!budget || !budget.budgetMb) return 'none';
  const use = budget.usePercent == null ? 'use measured at the next watchdog pass'
    : `${Math.round(budget.usePercent)} % of ${mb(budget.budgetMb)}`;
  const taken = Object.entries(budget.ladder.taken).filter(([, n]) => n)
    .map(([step, n]) => `${step.replace('_', ' ')} ×${n}`);
  const last = budget.ladder.last;
  return [use, taken.length ? `steps taken: ${taken.join(', ')}` : 'no steps taken',
    last ? `last: ${last.step.replace('_', ' ')} gave back ${mb(last.gaveBackMb)}` : null]
    .filter(Boolean).join(' · ');
}
function ago(iso) {
  if (!iso) return '–';
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.floor(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${Math.floor(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
const clock = (iso) => new Date(iso).toLocaleTimeString([], { hour12: false });
const phone = (me) => (me && me.id ? `+${me.id.split('@')[0]}` : '');
const badge = (status) => el('span', { class: `badge s-${status}` }, status.replace('_', ' '));

// ---- sign in ----
async function signIn(key) {
  state.key = key;
  try {
    const list = await api('GET', '/sessions');
    if (key) sessionStorage.setItem(KEY_SLOT, key);
    return list;
  } catch (err) {
    state.key = null;
    sessionStorage.removeItem(KEY_SLOT);
    throw err;
  }
}

function signOut(message) {
  state.started = false;
  sessionStorage.removeItem(KEY_SLOT);
  state.key = null;
  closeFeeds();
  state.timers.forEach(clearInterval);
  state.timers = [];
  for (const id of ['#nav', '#signout', '#live']) $(id).hidden = true;
  document.querySelectorAll('.view').forEach((v) => { v.hidden = true; });
  $('#login').hidden = false;
  showError('#login-error', message ? { message, details: {} } : null);
  $('#login-key').value = '';
  $('#login-key').focus();
}

async function boot() {
  $('#login-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      start(await signIn($('#login-key').value.trim()));
    } catch (err) {
      showError('#login-error', err.status === 401
        ? { message: 'This API key is not valid.', details: {} } : err);
    }
  });
  $('#signout').addEventListener('click', () => signOut());
  const kept = state.key;
  try {
    // A kept key, or none at all when the gateway runs without keys (development).
    start(await signIn(kept));
  } catch (err) {
    const stale = kept ? 'Your API key is no longer accepted.' : null;
    signOut(err.status === 401 ? stale : describe(err));
  }
}

let wired = false;
function start(list) {
  state.started = true;
  $('#login').hidden = true;
  for (const id of ['#nav', '#live']) $(id).hidden = false;
  $('#signout').hidden = !state.key;
  setSessions(list.data);
  if (!wired) { // signing out and in again keeps the handlers
    wireSessions();
    wireDetail();
    wireDeliveries();
    wireNodes();
    window.addEventListener('hashchange', route);
    wired = true;
  }
  openFeed();
  state.timers.push(setInterval(tick, 1000));
  state.timers.push(setInterval(refreshList, ROW_POLL_MS));
  state.timers.push(setInterval(loadNodes, ROW_POLL_MS));
  loadNodes();
  route();
}

// ---- views ----
function route() {
  if (!state.started) return;
  const [view, arg] = (location.hash.slice(1) || 'sessions').split('/');
  document.querySelectorAll('.view').forEach((v) => { v.hidden = true; });
  document.querySelectorAll('#nav a').forEach((a) => {
    if (a.dataset.view === view || (view === 'session' && a.dataset.view === 'sessions')) {
      a.setAttribute('aria-current', 'page');
    } else a.removeAttribute('aria-current');
  });
  closeLog();
  state.detail = null;
  if (view === 'session' && arg) {
    showDetail(decodeURIComponent(arg));
  } else if (view === 'deliveries') {
    $('#view-deliveries').hidden = false;
    loadDeliveries();
  } else if (view === 'gateway') {
    $('#view-gateway').hidden = false;
    loadGateway();
  } else if (view === 'nodes') {
    $('#view-nodes').hidden = false;
    renderNodes();
    loadNodes();
  } else {
    $('#view-sessions').hidden = false;
    renderTable();
  }
}

// ---- the live feed of every session the key sees ----
async function streamUrl(query) {
  const params = new URLSearchParams(query);
  if (state.key) params.set('token', (await api('POST', '/auth/stream-token')).token);
  return `${BASE}/events?${params}`;
}

async function openFeed(lastId) {
  if (!state.started) return;
  setLive('connecting');
  let url;
  try {
    url = await streamUrl(lastId ? { lastEventId: lastId } : {});
  } catch (err) {
    if (!state.started) return;
    setLive('offline');
    setTimeout(() => openFeed(lastId), 5000);
    return;
  }
  const feed = new EventSource(url);
  state.feed = feed;
  let last = lastId;
  feed.onopen = () => { state.feedFailures = 0; setLive('live'); refreshList(); };
  feed.onerror = () => {
    // The token only opens streams for a minute: reopen with a new one from where we were,
    // rather than let EventSource retry the stale URL; back off if the gateway refuses (429).
    if (state.feed !== feed) return;
    feed.close();
    setLive('reconnecting');
    const delay = Math.min(30000, 1500 * 2 ** (state.feedFailures || 0));
    state.feedFailures = (state.feedFailures || 0) + 1;
    setTimeout(() => { if (state.feed === feed) openFeed(last); }, delay);
  };
  for (const type of EVENT_TYPES) {
    feed.addEventListener(type, (msg) => {
      last = msg.lastEventId;
      onEvent(JSON.parse(msg.data));
    });
  }
}

function closeFeeds() {
  if (state.feed) state.feed.close();
  state.feed = null;
  closeLog();
}

function setLive(mode) {
  const node = $('#live');
  node.className = `live ${mode}`;
  node.textContent = { live: '● live', connecting: '○ connecting…', reconnecting: '○ reconnecting…', offline: '○ offline' }[mode];
}

const pending = new Set();
let pendingTimer = null;
function onEvent(event) {
  const known = state.sessions.get(event.session);
  if (known) known.activity = { ...known.activity, lastEventAt: event.timestamp };
  if (event.type === 'session.status' && known) {
    Object.assign(known, { status: event.data.status, statusReason: event.data.reason,
      detail: event.data.detail || null, statusSince: event.timestamp });
    if (event.data.status !== 'SCAN_QR') state.qrExpires = null;
  }
  if (event.session === state.detail) onDetailEvent(event);
  if (state.cluster && (event.type === 'session.moved' || event.type === 'session.status')) {
    pendingNodes = true;
  }
  // The full row (number, memory, counters) comes from the API; batch the refetches.
  pending.add(event.session);
  clearTimeout(pendingTimer);
  pendingTimer = setTimeout(flushPending, 250);
  renderSoon();
}

let pendingNodes = false;
async function flushPending() {
  const ids = [...pending];
  pending.clear();
  if (pendingNodes) { pendingNodes = false; loadNodes(); }
  if (ids.length > 5 || ids.some((id) => !state.sessions.has(id))) {
    await refreshList();
    return;
  }
  await Promise.all(ids.map(refreshOne));
}

async function refreshOne(id) {
  try {
    const session = await api('GET', `/sessions/${encodeURIComponent(id)}`);
    state.sessions.set(id, session);
  } catch (err) {
    if (err.status === 404) state.sessions.delete(id);
  }
  renderSoon();
  if (id === state.detail) renderDetail();
}

async function refreshList() {
  try {
    setSessions((await api('GET', '/sessions')).data);
    showError('#sessions-error', null);
  } catch (err) {
    showError('#sessions-error', err);
  }
}

function setSessions(list) {
  state.sessions = new Map(list.map((s) => [s.id, s]));
  renderSoon();
  if (state.detail) renderDetail();
}

// ---- the sessions table ----
let renderQueued = false;
function renderSoon() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => { renderQueued = false; renderTable(); });
}

const SORTS = {
  id: (s) => s.id,
  status: (s) => STATUS_ORDER.indexOf(s.status),
  me: (s) => (s.me && (s.me.name || s.me.id)) || '~',
  node: (s) => s.node || '~',
  memory: (s) => -((s.browser && (s.browser.pssMb || s.browser.rssMb)) || 0),
  restarts: (s) => -s.restarts,
  today: (s) => -((s.activity && s.activity.sentToday + s.activity.receivedToday) || 0),
  queued: (s) => -((s.activity && s.activity.queued) || 0),
  lastEvent: (s) => -Date.parse((s.activity && s.activity.lastEventAt) || 0),
};

function visibleSessions() {
  const text = $('#filter').value.trim().toLowerCase();
  const status = $('#status-filter').value;
  const key = SORTS[state.sort.field];
  return [...state.sessions.values()]
    .filter((s) => !status || s.status === status)
    .filter((s) => !text || [s.id, s.me && s.me.id, s.me && s.me.name, phone(s.me), s.node]
      .some((v) => v && v.toLowerCase().includes(text)))
    .sort((a, b) => {
      const x = key(a); const y = key(b);
      return (x < y ? -1 : x > y ? 1 : a.id.localeCompare(b.id)) * state.sort.dir;
    });
}

function renderTable() {
  if ($('#view-sessions').hidden) return;
  const rows = visibleSessions();
  const body = $('#sessions-body');
  const focused = document.activeElement && document.activeElement.closest('#sessions-body tr');
  const focusId = focused && focused.dataset.id;
  body.replaceChildren(...rows.map(sessionRow));
  if (focusId) {
    const again = body.querySelector(`tr[data-id="${CSS.escape(focusId)}"] a`);
    if (again) again.focus();
  }
  const counts = {};
  for (const s of state.sessions.values()) counts[s.status] = (counts[s.status] || 0) + 1;
  $('#counts').textContent = Object.entries(counts).map(([k, n]) => `${n} ${k.replace('_', ' ')}`).join(' · ');
  $('#session-count').textContent = `(${state.sessions.size})`;
  $('#sessions-empty').hidden = state.sessions.size > 0;
  document.querySelectorAll('#sessions-table th[data-sort]').forEach((th) => {
    th.setAttribute('aria-sort', th.dataset.sort === state.sort.field
      ? (state.sort.dir > 0 ? 'ascending' : 'descending') : 'none');
  });
}

function sessionRow(s) {
  const a = s.activity || {};
  const browser = s.browser || {};
  const pacing = s.pacing ? `${s.pacing.minInterval}s+${s.pacing.jitter}s` : '';
  return el('tr', { 'data-id': s.id, class: `session-row s-${s.status}` },
    el('td', { 'data-label': 'Session' },
      el('a', { href: `#session/${encodeURIComponent(s.id)}`, class: 'sid' }, s.id)),
    el('td', { 'data-label': 'Status' }, badge(s.status),
      s.statusReason || s.detail ? el('span', { class: 'reason' }, ` ${s.statusReason || s.detail}`) : null,
      restrictionNote(s),
      el('span', { class: 'since muted', 'data-since': s.statusSince || '' }, ` ${ago(s.statusSince)}`)),
    el('td', { 'data-label': 'Node', class: 'cluster-only node' }, s.node || '–'),
    el('td', { 'data-label': 'Number' }, s.me ? phone(s.me) : '–',
      s.me && s.me.name ? el('span', { class: 'muted' }, ` ${s.me.name}`) : null),
    el('td', { 'data-label': 'Memory', class: 'num' },
      s.browser ? `${mb(browser.pssMb ?? browser.rssMb)}` : '–',
      s.browser && browser.budget && browser.budget.usePercent != null
        ? el('span', { class: browser.budget.usePercent > 100 ? 'bad' : 'muted' },
          ` · ${Math.round(browser.budget.usePercent)} % of budget`) : null,
      s.browser && browser.processes ? el('span', { class: 'muted' }, ` · ${browser.processes} proc`) : null),
    el('td', { 'data-label': 'Restarts', class: 'num' }, String(s.restarts)),
    el('td', { 'data-label': 'Today ↑/↓', class: 'num' }, `${a.sentToday ?? 0} / ${a.receivedToday ?? 0}`,
      a.failedToday ? el('span', { class: 'bad' }, ` (${a.failedToday} failed)`) : null),
    el('td', { 'data-label': 'Queue', class: 'num' }, String(a.queued ?? 0),
      el('span', { class: 'muted' }, ` · ${pacing}`)),
    el('td', { 'data-label': 'Last event', class: 'when', 'data-at': a.lastEventAt || '' },
      a.lastEventAt ? `${ago(a.lastEventAt)} ago` : '–'));
}

function tick() {
  // Durations move every second without a refetch.
  document.querySelectorAll('[data-since]').forEach((n) => {
    if (n.dataset.since) n.textContent = ` ${ago(n.dataset.since)}`;
  });
  document.querySelectorAll('td[data-at]').forEach((n) => {
    if (n.dataset.at) n.textContent = `${ago(n.dataset.at)} ago`;
  });
  renderCountdown();
}

function wireSessions() {
  $('#filter').addEventListener('input', renderTable);
  $('#status-filter').addEventListener('change', renderTable);
  document.querySelectorAll('#sessions-table th[data-sort] button').forEach((button) => {
    button.addEventListener('click', () => {
      const field = button.parentElement.dataset.sort;
      state.sort = { field, dir: state.sort.field === field ? -state.sort.dir : 1 };
      renderTable();
    });
  });
  const dialog = $('#create-dialog');
  $('#new-session').addEventListener('click', () => {
    showError('#create-error', null);
    $('#create-form').reset();
    dialog.showModal();
  });
  $('#create-cancel').addEventListener('click', () => dialog.close());
  $('#create-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = { id: $('#create-id').value.trim() };
    const hook = $('#create-webhook').value.trim();
    if (hook) body.webhook = { url: hook };
    try {
      const session = await api('POST', '/sessions', body);
      state.sessions.set(session.id, session);
      dialog.close();
      location.hash = `#session/${encodeURIComponent(session.id)}`;
    } catch (err) {
      showError('#create-error', err);
    }
  });
}

// ---- one session ----
function showDetail(id) {
  state.detail = id;
  $('#view-session').hidden = false;
  for (const n of ['#detail-error', '#detail-notice', '#secret-once', '#pairing-code', '#pairing-help']) $(n).hidden = true;
  $('#send-result').textContent = '';
  $('#event-log').replaceChildren();
  $('#qr-img').hidden = true;
  state.qrExpires = null;
  renderDetail(true);
  refreshOne(id).then(() => { if (state.detail === id) { fillForms(); loadQr(); } });
  closeLog();
  openLog(id);
}

function current() { return state.sessions.get(state.detail); }

// WhatsApp's reach-out timelock (engine/reachout.py): new contacts wait until it ends.
function restrictionText(s) {
  const r = s.restriction;
  return r ? `new contacts held until ${new Date(r.until).toLocaleString()} (${r.reason})` : null;
}

function restrictionNote(s) {
  const text = restrictionText(s);
  return text ? el('span', { class: 'reason restricted' }, ` · ${text}`) : null;
}

function renderDetail(first) {
  const s = current();
  $('#detail-title').textContent = state.detail;
  if (!s) {
    if (!first) showError('#detail-error', { message: 'This session no longer exists.', details: {} });
    return;
  }
  $('#detail-status').replaceWith(Object.assign(badge(s.status), { id: 'detail-status' }));
  $('#detail-reason').replaceChildren(s.statusReason ? `${s.statusReason} · for` : 'for',
    el('span', { 'data-since': s.statusSince || '' }, ` ${ago(s.statusSince)}`));
  $('#link-card').hidden = !['SCAN_QR', 'STARTING'].includes(s.status)
    && !(s.status === 'FAILED' && s.statusReason === 'qr_expired');
  $('#send-card').hidden = s.status !== 'CONNECTED';
  if (s.status === 'FAILED' && s.statusReason === 'qr_expired') {
    $('#qr-img').hidden = true;
    $('#qr-wait').hidden = true;
    $('#qr-renew').hidden = false;
    $('#qr-countdown').textContent = 'The QR expired: nobody scanned it in time.';
  }
  const a = s.activity || {};
  const b = s.browser;
  const facts = [
    ['Number', s.me ? `${phone(s.me)} ${s.me.name || ''}` : 'not linked'],
    ...(state.cluster ? [['Node', s.node || 'none: it runs nowhere']] : []),
    ...(s.restriction ? [['Restricted', restrictionText(s)]] : []),
    ['Browser', !b ? 'none' : b.pssMb == null ? `pid ${b.pid} · ${mb(b.rssMb)} RSS · PSS at the next watchdog pass`
      : `pid ${b.pid} · ${mb(b.pssMb)} PSS · ${mb(b.rssMb)} RSS · ${b.processes} processes`],
    ['Memory budget', budgetText(b && b.budget)],
    ['Restarts', String(s.restarts)],
    ['Today', `${a.sentToday ?? 0} sent · ${a.receivedToday ?? 0} received · ${a.failedToday ?? 0} failed`],
    ['Queue', `${a.queued ?? 0} waiting`],
    ['Last event', a.lastEventAt ? `${ago(a.lastEventAt)} ago` : '–'],
    ['Created', new Date(s.createdAt).toLocaleString()],
  ];
  $('#facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]));
  for (const button of document.querySelectorAll('[data-action]')) {
    const act = button.dataset.action;
    const running = !['STOPPED', 'FAILED'].includes(s.status);
    button.disabled = (act === 'start' && running) || (act === 'stop' && !running)
      || (act === 'logout' && s.status !== 'CONNECTED') || (act === 'reconnect' && !running);
  }
  renderMove(s);
}

let movedTo = null; // the node the shown session just moved to (cluster mode)
function onDetailEvent(event) {
  logEvent(event);
  if (event.type === 'qr') showQr(event.data.expiresAt);
  if (event.type === 'session.moved') {
    movedTo = event.data.to;
    notice(`Moved from ${event.data.from} to ${event.data.to} (${event.data.reason}); its browser starts there.`);
  }
  if (event.type === 'session.status') {
    renderDetail();
    if (event.data.status === 'SCAN_QR') loadQr();
    if (event.data.status === 'CONNECTED') {
      notice(movedTo ? `Moved: CONNECTED on ${movedTo}, without a scan.` : 'Linked: the session is CONNECTED.');
      movedTo = null;
    }
  }
}

function notice(text) {
  const node = $('#detail-notice');
  node.textContent = text;
  node.hidden = !text;
}

async function loadQr() {
  const s = current();
  if (!s || s.status !== 'SCAN_QR') return;
  try {
    const qr = await api('GET', `/sessions/${encodeURIComponent(s.id)}/qr`);
    await showQr(qr.expiresAt);
  } catch (err) {
    if (err.code !== 'session_not_ready') showError('#detail-error', err);
  }
}

let qrLoading = 0;
async function showQr(expiresAt) {
  const id = state.detail;
  const mine = ++qrLoading;
  try {
    const png = await api('GET', `/sessions/${encodeURIComponent(id)}/qr`, undefined, 'image/png');
    if (mine !== qrLoading || id !== state.detail) return;
    const img = $('#qr-img');
    if (img.src) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(png);
    img.hidden = false;
    img.dataset.expiresAt = expiresAt;
    $('#qr-wait').hidden = true;
    $('#qr-renew').hidden = true;
    state.qrExpires = Date.parse(expiresAt);
    renderCountdown();
  } catch (err) {
    if (err.code !== 'session_not_ready') showError('#detail-error', err);
  }
}

function renderCountdown() {
  if (!state.detail || state.qrExpires == null) return;
  const s = current();
  const left = Math.ceil((state.qrExpires - Date.now()) / 1000);
  const node = $('#qr-countdown');
  if (!s || s.status !== 'SCAN_QR') { node.textContent = ''; return; }
  if (left > 0) {
    node.textContent = `Expires in ${left} s; a new one follows by itself.`;
    $('#qr-renew').hidden = true;
  } else {
    node.textContent = 'Expired.';
    $('#qr-renew').hidden = false;
  }
}

async function act(action) {
  const s = current();
  if (!s) return;
  const id = encodeURIComponent(s.id);
  const calls = {
    start: ['POST', `/sessions/${id}/start`, 'Starting…'],
    stop: ['DELETE', `/sessions/${id}`, 'Stopped; the login is kept.'],
    reconnect: ['POST', `/sessions/${id}/reconnect`, 'Restarting the browser…'],
    logout: ['POST', `/sessions/${id}/logout`, 'Logged out; a new QR follows.'],
    cache: ['DELETE', `/sessions/${id}/cache`, null],
  };
  if (action === 'delete') { $('#delete-purge').checked = false; $('#delete-dialog').showModal(); return; }
  if (action === 'logout' && !window.confirm(`Unlink ${s.id} from its phone?`)) return;
  const [method, path, done] = calls[action];
  showError('#detail-error', null);
  try {
    const result = await api(method, path);
    notice(done || `Cleared ${result.cleared} cached list(s).`);
    await refreshOne(s.id);
  } catch (err) {
    showError('#detail-error', err);
  }
}

function fillForms() {
  const s = current();
  if (!s) return;
  const hook = s.webhook || { url: null, events: [], hasSecret: false };
  $('#webhook-url').value = hook.url || '';
  document.querySelectorAll('#webhook-events input').forEach((box) => {
    box.checked = hook.events.includes(box.value);
  });
  $('#webhook-secret-state').textContent = hook.hasSecret
    ? 'A secret is set (it is never shown again).' : 'No secret: deliveries are not signed.';
  $('#webhook-new-secret').checked = false;
  const p = s.pacing || {};
  $('#pacing-min').value = p.minInterval ?? 0;
  $('#pacing-jitter').value = p.jitter ?? 0;
  $('#pacing-cap').value = p.dailyCap ?? 0;
  $('#pacing-typing').checked = !!p.typing;
  $('#keepalive').checked = !!s.keepAlive;
  loadSinks(s.id);
}

// Read-only: the session's own sinks and the gateway-wide ones, as the API shows them (masked).
async function loadSinks(id) {
  let sinks;
  try {
    sinks = await api('GET', `/sessions/${encodeURIComponent(id)}/sinks`);
  } catch (err) {
    // Between two nodes (a move, a drain) the session answers for a few seconds only 503
    // session_moving: ask again then, rather than leave an error for what passes by itself.
    if (err.code === 'session_moving') setTimeout(() => { if (state.detail === id) loadSinks(id); }, 2000);
    else showError('#detail-error', err);
    return;
  }
  if (state.detail !== id) return;
  const rows = [...sinks.sinks.map((k) => ({ ...k, scope: 'this session' })),
    ...sinks.gatewaySinks.map((k) => ({ ...k, scope: 'gateway-wide' }))];
  $('#sinks-list').replaceChildren(...rows.map((k) => el('li', {},
    el('span', { class: 'url' }, k.url), ' ',
    el('span', { class: 'muted' }, `${k.scope}; ${k.events.length ? k.events.join(', ') : 'all events'}`))));
  $('#sinks-empty').hidden = rows.length > 0;
}

function newSecret() {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function wireDetail() {
  document.querySelectorAll('[data-action]').forEach((button) => {
    button.addEventListener('click', () => act(button.dataset.action));
  });
  $('#qr-renew').addEventListener('click', async () => {
    const s = current();
    if (s && s.status === 'FAILED') await act('start');
    else loadQr();
  });
  $('#pairing-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    showError('#detail-error', null);
    try {
      const { code } = await api('POST', `/sessions/${encodeURIComponent(state.detail)}/pairing-code`,
        { phone: $('#pairing-phone').value });
      $('#pairing-code').textContent = code;
      $('#pairing-code').hidden = false;
      $('#pairing-help').hidden = false;
    } catch (err) {
      showError('#detail-error', err);
    }
  });
  $('#send-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const result = $('#send-result');
    result.className = '';
    result.textContent = 'Sending…';
    try {
      const msg = await api('POST', `/sessions/${encodeURIComponent(state.detail)}/messages`,
        { to: $('#send-to').value, text: $('#send-text').value });
      result.textContent = `Sent to ${msg.to || msg.chatId} (${msg.ack || 'queued'}).`;
      result.className = 'ok';
    } catch (err) {
      result.textContent = describe(err);
      result.className = 'error';
    }
  });
  $('#webhook-events').append(...EVENT_TYPES.map((type) => el('label', { class: 'inline' },
    el('input', { type: 'checkbox', value: type }), ` ${type}`)));
  $('#webhook-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const body = {
      url: $('#webhook-url').value.trim(),
      events: [...document.querySelectorAll('#webhook-events input:checked')].map((b) => b.value),
    };
    const secret = $('#webhook-new-secret').checked ? newSecret() : null;
    if (secret) body.secret = secret;
    await saveSettings(async () => {
      // PATCH keeps the secret in force unless a new one is given (the page never knows it).
      await api('PATCH', `/sessions/${encodeURIComponent(state.detail)}/webhook`, body);
      $('#secret-once').hidden = !secret;
      $('#secret-value').value = secret || '';
      return 'Webhook saved.';
    });
  });
  $('#webhook-remove').addEventListener('click', () => saveSettings(async () => {
    await api('DELETE', `/sessions/${encodeURIComponent(state.detail)}/webhook`);
    return 'Webhook removed.';
  }));
  $('#pacing-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    await saveSettings(async () => {
      const id = encodeURIComponent(state.detail);
      await api('PUT', `/sessions/${id}/pacing`, {
        minInterval: Number($('#pacing-min').value), jitter: Number($('#pacing-jitter').value),
        dailyCap: Number($('#pacing-cap').value), typing: $('#pacing-typing').checked,
      });
      await api('PUT', `/sessions/${id}/keep-alive`, { keepAlive: $('#keepalive').checked });
      return 'Pacing and keep-alive saved.';
    });
  });
  $('#delete-cancel').addEventListener('click', () => $('#delete-dialog').close());
  $('#delete-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const purge = $('#delete-purge').checked;
    const id = state.detail;
    $('#delete-dialog').close();
    try {
      await api('DELETE', `/sessions/${encodeURIComponent(id)}?purge=${purge}`);
      if (purge) {
        state.sessions.delete(id);
        location.hash = '#sessions';
      } else {
        notice('Stopped; the login is kept.');
        await refreshOne(id);
      }
    } catch (err) {
      showError('#detail-error', err);
    }
  });
}

async function saveSettings(fn) {
  showError('#detail-error', null);
  try {
    notice(await fn());
    await refreshOne(state.detail);
    fillForms();
  } catch (err) {
    showError('#detail-error', err);
  }
}

// ---- the detail view's event log ----
// The tab's one live stream (openFeed) already carries this session's events to onDetailEvent;
// the history before it comes from one page of stored events, so a tab never holds two of the
// gateway's SSE_MAX_STREAMS places.
async function openLog(id) {
  let page;
  try {
    page = await api('GET', `/sessions/${encodeURIComponent(id)}/events/recent?limit=${LOG_MAX}`);
  } catch (err) {
    return;
  }
  if (state.detail !== id) return;
  // Newest first on screen: what the live stream showed meanwhile is newer and stays on top.
  for (const event of page.data.slice().reverse()) logEvent(event, true);
}

const seenInLog = new Set();
function logEvent(event, older = false) {
  // The stored page and the live stream may both carry an event: show each once.
  if (seenInLog.has(event.id)) return;
  seenInLog.add(event.id);
  if (seenInLog.size > 5000) seenInLog.clear();
  const log = $('#event-log');
  const data = event.data || {};
  const summary = event.type === 'session.status' ? `${data.previous} → ${data.status}${data.reason ? ` (${data.reason})` : ''}`
    : event.type === 'message' ? `${data.from}: ${data.body ?? data.type}`
      : event.type === 'message.ack' ? `${data.ack} ${data.id}`
        : event.type === 'message.status' ? `${data.status || ''} ${data.to || ''} ${data.reason || ''}`
          : event.type === 'qr' ? `new QR, expires ${clock(data.expiresAt)}`
            : event.type === 'session.moved' ? `${data.from} → ${data.to} (${data.reason})`
              : JSON.stringify(data).slice(0, 160);
  log[older ? 'append' : 'prepend'](el('li', { 'data-type': event.type },
    el('time', { dateTime: event.timestamp }, clock(event.timestamp)),
    el('span', { class: 'etype' }, event.type), el('span', { class: 'esum' }, summary)));
  while (log.children.length > LOG_MAX) log.lastChild.remove();
}

function closeLog() {
  seenInLog.clear();
}

// ---- deliveries ----
let failedRows = [];
async function loadDeliveries() {
  showError('#deliveries-error', null);
  const ids = [...state.sessions.keys()];
  try {
    const lists = await Promise.all(ids.flatMap((id) => ['failed', 'pending'].map((status) =>
      api('GET', `/sessions/${encodeURIComponent(id)}/webhook/deliveries?status=${status}&limit=100`)
        .then((r) => r.data.map((d) => ({ ...d, session: id }))))));
    // A pending delivery that has an error is being retried; one without is just queued.
    failedRows = lists.flat().filter((d) => d.status === 'failed' || d.lastError)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  } catch (err) {
    showError('#deliveries-error', err);
    return;
  }
  renderDeliveries();
}

function renderDeliveries() {
  $('#deliveries-body').replaceChildren(...failedRows.map((d) => el('tr', { 'data-event': d.eventId },
    el('td', { 'data-label': 'Session' }, d.session),
    el('td', { 'data-label': 'Event' }, el('span', { class: 'etype' }, d.type), ' ',
      el('span', { class: 'muted' }, `${new Date(d.createdAt).toLocaleString()}`)),
    el('td', { 'data-label': 'State' }, d.status === 'failed' ? el('span', { class: 'badge s-FAILED' }, 'dead')
      : el('span', { class: 'badge s-RECOVERING' }, d.nextAttemptAt ? `retrying ${clock(d.nextAttemptAt)}` : 'retrying')),
    el('td', { 'data-label': 'Response', class: 'response' }, d.lastError || (d.lastStatus ? `HTTP ${d.lastStatus}` : '–')),
    el('td', { 'data-label': 'Attempts', class: 'num' }, String(d.attempts)),
    el('td', { 'data-label': 'URL', class: 'url' }, d.url),
    el('td', {}, el('button', { type: 'button', class: 'retry', onclick: () => retry([d]) }, 'Retry')))));
  $('#deliveries-empty').hidden = failedRows.length > 0;
  $('#retry-all').disabled = failedRows.length === 0;
}

async function retry(rows) {
  showError('#deliveries-error', null);
  const unique = [...new Map(rows.map((d) => [`${d.session} ${d.eventId}`, d])).values()];
  try {
    for (const d of unique) {
      await api('POST', `/sessions/${encodeURIComponent(d.session)}/webhook/deliveries/${encodeURIComponent(d.eventId)}/retry`);
    }
  } catch (err) {
    showError('#deliveries-error', err);
  }
  // The sender works at once; show what it made of it.
  setTimeout(loadDeliveries, 1000);
}

function wireDeliveries() {
  $('#deliveries-refresh').addEventListener('click', loadDeliveries);
  $('#retry-all').addEventListener('click', () => retry(failedRows));
}

// ---- nodes (cluster mode) ----
// A single box lists one node without a URL: it has nowhere to drain or move a session to, so
// the page shows nothing of nodes there. Several nodes, or a node advertising its URL
// (NODE_URL), is cluster mode: the Nodes view, the Node column and the Move form appear.
async function loadNodes() {
  if (!state.started) return;
  let nodes;
  try {
    nodes = (await api('GET', '/nodes')).data;
  } catch (err) {
    // A scoped key may not list nodes (403): it sees its sessions as on a single box.
    if (err.status !== 403) showError('#nodes-error', err);
    if (err.status === 403) setNodes([]);
    return;
  }
  showError('#nodes-error', null);
  setNodes(nodes);
  if (!$('#view-nodes').hidden) {
    clearTimeout(loadNodes.timer);
    loadNodes.timer = setTimeout(() => { if (!$('#view-nodes').hidden) loadNodes(); }, NODES_POLL_MS);
  }
}

function setNodes(nodes) {
  state.nodes = nodes;
  const cluster = nodes.length > 1 || nodes.some((n) => n.url);
  if (cluster !== state.cluster) {
    state.cluster = cluster;
    document.body.classList.toggle('cluster', cluster);
    $('#nav a[data-view="nodes"]').hidden = !cluster;
    renderSoon();
  }
  renderNodes();
  if (state.detail) renderDetail();
}

const nodeState = (n) => [
  n.alive ? el('span', { class: 'badge s-CONNECTED' }, 'alive') : el('span', { class: 'badge s-FAILED' }, 'stale'),
  n.draining ? el('span', { class: 'badge s-RECOVERING' }, 'draining') : null,
];

function renderNodes() {
  if ($('#view-nodes').hidden) return;
  const nodes = state.nodes;
  $('#nodes-body').replaceChildren(...nodes.map((n) => el('tr', { 'data-node': n.id, class: n.alive ? '' : 'stale' },
    el('td', { 'data-label': 'Node', class: 'sid' }, n.id),
    el('td', { 'data-label': 'URL', class: 'url' }, n.url || '–'),
    el('td', { 'data-label': 'State', class: 'state' }, ...nodeState(n)),
    el('td', { 'data-label': 'Heartbeat' }, el('span', { 'data-since': n.heartbeat }, ` ${ago(n.heartbeat)}`), ' ago'),
    el('td', { 'data-label': 'Sessions', class: 'num sessions' }, String(n.sessions)),
    el('td', { 'data-label': 'Free / capacity', class: 'num' }, `${n.free} / ${n.capacity}`),
    el('td', { 'data-label': 'Started', class: 'muted' }, new Date(n.startedAt).toLocaleString()),
    el('td', {}, el('button', {
      type: 'button', class: 'danger drain', onclick: () => askDrain(n),
      disabled: n.draining || !n.alive || !n.url,
      title: n.draining ? 'Already draining: it takes no new session until restarted'
        : !n.alive ? 'A stale node cannot be asked: its sessions go to the others when their leases expire'
          : !n.url ? 'This node advertises no NODE_URL: the others cannot reach it' : 'Move every session off this node',
    }, 'Drain…')))));
  const stale = nodes.filter((n) => !n.alive).length;
  const draining = nodes.filter((n) => n.draining).length;
  $('#node-count').textContent = `(${nodes.length})`;
  $('#nodes-summary').textContent = [`${nodes.length - stale} alive`, stale ? `${stale} stale` : null,
    draining ? `${draining} draining` : null,
    plural(nodes.reduce((sum, n) => sum + n.sessions, 0), 'session') + ' running'].filter(Boolean).join(' · ');
}

let drainAsked = null; // the node the confirm dialog asks about
function askDrain(node) {
  drainAsked = node;
  $('#drain-node').textContent = node.id;
  $('#drain-what').textContent = node.sessions === 1
    ? 'Its one session moves to the node with the most free capacity.'
    : node.sessions ? `Its ${node.sessions} sessions move off it one at a time, each to the node with the most free capacity.`
      : 'It runs no session now; it will take no new one.';
  $('#drain-dialog').showModal();
}

async function drain(node) {
  showError('#nodes-error', null);
  const notice = $('#nodes-notice');
  try {
    const result = await api('POST', `/nodes/${encodeURIComponent(node.id)}/drain`);
    notice.textContent = result.moving.length
      ? `Draining ${result.node}: moving ${result.moving.join(', ')}. Each session's Node changes once it runs elsewhere.`
      : `Draining ${result.node}: it ran no session.`;
    notice.hidden = false;
  } catch (err) {
    notice.hidden = true;
    showError('#nodes-error', err);
  }
  await loadNodes();
}

// The Move form of a session's page: every other alive node that takes sessions.
function renderMove(s) {
  const select = $('#move-node');
  const targets = state.nodes.filter((n) => n.alive && n.url && !n.draining && n.id !== s.node);
  const options = [['', 'any: the most free capacity'],
    ...targets.map((n) => [n.id, `${n.id} (${n.free} free)`])];
  const key = JSON.stringify(options);
  if (select.dataset.options !== key) { // rebuilt only when it changes: a choice being made stays
    const chosen = select.value;
    select.replaceChildren(...options.map(([value, text]) => el('option', { value }, text)));
    select.value = options.some(([value]) => value === chosen) ? chosen : '';
    select.dataset.options = key;
  }
  const running = !['STOPPED', 'FAILED'].includes(s.status) && s.node;
  const button = $('#move-form button');
  button.disabled = !running || !targets.length;
  button.title = !running ? 'Only a running session moves: start it on the node it should run on'
    : !targets.length ? 'No other alive node that is not draining' : '';
}

function wireNodes() {
  $('#drain-cancel').addEventListener('click', () => $('#drain-dialog').close());
  $('#drain-form').addEventListener('submit', (event) => {
    event.preventDefault();
    $('#drain-dialog').close();
    if (drainAsked) drain(drainAsked);
  });
  $('#move-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const id = state.detail;
    const node = $('#move-node').value;
    showError('#detail-error', null);
    notice(`Moving ${id} to ${node || 'the node with the most free capacity'}…`);
    $('#move-form button').disabled = true;
    try {
      const moved = await api('POST', `/sessions/${encodeURIComponent(id)}/move`, node ? { node } : {});
      state.sessions.set(moved.id, moved);
      if (moved.status === 'CONNECTED') notice(`Moved: CONNECTED on ${moved.node}, without a scan.`);
      else {
        movedTo = moved.node; // its CONNECTED event says when it is back
        notice(`Moved: ${moved.id} runs on ${moved.node}; its browser is starting.`);
      }
    } catch (err) {
      notice('');
      showError('#detail-error', err);
    }
    await loadNodes();
    await refreshOne(id);
  });
}

// ---- gateway ----
async function loadGateway() {
  showError('#gateway-error', null);
  try {
    const [perf, history] = await Promise.all([api('GET', '/performance'), api('GET', '/performance/history')]);
    renderGateway(perf, history);
  } catch (err) {
    showError('#gateway-error', err.status === 403
      ? { message: 'This API key is scoped to some sessions; the gateway figures need a full key.', details: {} } : err);
  }
  if (!$('#view-gateway').hidden) {
    clearTimeout(loadGateway.timer);
    loadGateway.timer = setTimeout(() => { if (!$('#view-gateway').hidden) loadGateway(); }, 10000);
  }
}

function renderGateway(perf, history) {
  const m = perf.memoryUsage;
  const p = perf.performance;
  const c = perf.capacity || {};
  const figures = [
    ['Worker memory', mb(m.rssMb), 'the gateway process (RSS)'],
    ['Browsers', mb(m.browsersMb), `PSS of ${perf.sessions.filter((s) => s.processes).length} browser(s)`],
    ['Total', mb(m.totalMb), `limit ${mb(perf.watchdog.limitsMb.total)}`],
    ['Free memory', mb(c.availableMb), 'available on the machine'],
    ['More sessions fit', c.sessionsThatFit ?? '–', `at ~${mb(c.perSessionMb)} each`],
    ['Active sessions', p.activeSessions, `of at most ${c.maxSessions ?? '–'}`],
    ['Cache hit rate', p.cacheHitRate == null ? '–' : `${Math.round(p.cacheHitRate * 100)} %`, 'contacts, groups, chats'],
    ['Response time', p.averageResponseTime == null ? '–' : `${Number(p.averageResponseTime).toFixed(1)} ms`, 'mean of API requests'],
  ];
  $('#gateway-figures').replaceChildren(...figures.map(([k, v, hint]) => el('div', { class: 'figure' },
    el('dt', {}, k), el('dd', {}, String(v)), el('dd', { class: 'muted hint' }, hint))));
  // In a cluster each node measures itself: say which one answered (through a load balancer,
  // the next refresh may be another's).
  $('#gateway-age').textContent = `${state.cluster && perf.node ? `node ${perf.node}: ` : ''}`
    + `sampled ${perf.watchdog.sampleAgeSeconds}s ago, every ${perf.watchdog.intervalSeconds}s`;
  renderChart(history.data);
}

function renderChart(points) {
  const box = $('#chart');
  // Drawn at the box's own width, so text is never stretched.
  const W = Math.max(280, box.clientWidth || 600); const H = 180; const pad = 28;
  const NS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('width', W);
  svg.setAttribute('height', H);
  if (points.length < 2) {
    box.replaceChildren(el('p', { class: 'muted' }, 'Collecting samples: the chart starts after two watchdog passes.'));
    return;
  }
  const now = Date.now() / 1000;
  const x = (t) => pad + ((t - (now - 3600)) / 3600) * (W - 2 * pad);
  const maxMem = Math.max(1, ...points.map((q) => q.totalMb));
  const maxAct = Math.max(1, ...points.map((q) => q.activeSessions));
  const line = (get, max, cls) => {
    const path = document.createElementNS(NS, 'polyline');
    path.setAttribute('points', points.map((q) => `${x(q.at).toFixed(1)},${(H - pad - (get(q) / max) * (H - 2 * pad)).toFixed(1)}`).join(' '));
    path.setAttribute('class', cls);
    return path;
  };
  const label = (text, tx, ty, anchor) => {
    const t = document.createElementNS(NS, 'text');
    Object.entries({ x: tx, y: ty, 'text-anchor': anchor, class: 'axis' }).forEach(([k, v]) => t.setAttribute(k, v));
    t.textContent = text;
    return t;
  };
  const base = document.createElementNS(NS, 'line');
  Object.entries({ x1: pad, x2: W - pad, y1: H - pad, y2: H - pad, class: 'base' }).forEach(([k, v]) => base.setAttribute(k, v));
  svg.append(base, line((q) => q.totalMb, maxMem, 'mem'), line((q) => q.activeSessions, maxAct, 'act'),
    label(`${Math.round(maxMem)} MB`, 2, pad - 8, 'start'), label(`${maxAct} sessions`, W - 2, pad - 8, 'end'),
    label('−60 min', pad, H - 8, 'start'), label('now', W - pad, H - 8, 'end'));
  box.replaceChildren(svg);
}

boot();
