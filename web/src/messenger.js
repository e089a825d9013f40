// Sunbeam web messenger: an embeddable chat widget on Sunbeam's SDK API (/sdk/v2/…) and its
// realtime endpoint (Bayeux, through the `faye` client). One script tag:
//   <script src="https://sunbeam.example/web/messenger.js" data-integration-id="…"></script>
// Optional attributes: data-base-url (API origin; default: the script's origin),
// data-open="true" (start opened). JS API: window.Sunbeam.{login, logout, open, close,
// sendMessage, sendFile, on, off, getUser, getConversation, ready}.
import Faye from 'faye';
import { CSS } from './style.js';

const SDK_VERSION = 'web/sunbeam/0.1.0';
const POLL_MS = 4000;
const TYPING_IDLE_MS = 3000;
const MAX_FILE_BYTES = 50 * 1024 * 1024; // the server's cap on uploads

const script = document.currentScript;
const dataset = (script && script.dataset) || {};
const integrationId = dataset.integrationId || '';
const baseUrl = (dataset.baseUrl || (script && script.src ? new URL(script.src, location.href).origin : location.origin)).replace(/\/+$/, '');

// ---------------------------------------------------------------- storage

const store = {
  get(k) { try { return localStorage.getItem(`${integrationId}.${k}`); } catch (_) { return null; } },
  set(k, v) { try { localStorage.setItem(`${integrationId}.${k}`, v); } catch (_) { /* private mode */ } },
  del(k) { try { localStorage.removeItem(`${integrationId}.${k}`); } catch (_) { /* private mode */ } },
};

function clientId() {
  let id = store.get('clientId');
  if (!id) {
    id = (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2) + Date.now()).replace(/-/g, '');
    store.set('clientId', id);
  }
  return id;
}

// ---------------------------------------------------------------- state

const state = {
  appId: null,
  appName: '',
  user: null, // appUser
  sessionToken: store.get('sessionToken'),
  appUserId: store.get('appUserId'),
  jwt: null,
  externalId: null,
  realtime: null, // settings.realtime
  conversation: null, // {_id, appMakerLastRead, …}
  messages: [], // oldest → newest
  hasPrevious: false,
  businessTyping: false,
  open: false,
  faye: null,
  subscription: null,
  pollTimer: null,
  realtimeUp: false,
  subscribed: false,
};

const listeners = {};
function emit(name, payload) {
  for (const cb of listeners[name] || []) {
    try { cb(payload); } catch (e) { console.error(e); }
  }
}

// ---------------------------------------------------------------- HTTP

class SdkError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.description) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error && body.error.code;
  }
}

function authHeader() {
  if (state.jwt) return `Bearer ${state.jwt}`;
  if (state.appUserId && state.sessionToken) return `Basic ${btoa(`${state.appUserId}:${state.sessionToken}`)}`;
  return null;
}

async function api(method, path, body, auth = authHeader()) {
  const headers = {
    Accept: 'application/json',
    'x-smooch-sdk': SDK_VERSION,
    'x-smooch-clientid': clientId(),
  };
  if (state.appId) headers['x-smooch-appid'] = state.appId;
  if (auth) headers.Authorization = auth;
  const form = body instanceof FormData;
  if (body !== undefined && !form) headers['Content-Type'] = 'application/json';
  const res = await fetch(baseUrl + path, { method, headers, body: body === undefined || form ? body : JSON.stringify(body) });
  const json = (res.headers.get('content-type') || '').includes('application/json') ? await res.json().catch(() => null) : null;
  if (!res.ok) throw new SdkError(res.status, json);
  return json || {};
}

const appPath = (p) => `/sdk/v2/apps/${encodeURIComponent(state.appId)}${p}`;

function client() {
  return {
    id: clientId(),
    platform: 'web',
    integrationId,
    info: {
      sdkVersion: SDK_VERSION,
      URL: location.host,
      userAgent: navigator.userAgent,
      referrer: document.referrer,
      browserLanguage: navigator.language,
      currentUrl: location.href,
      currentTitle: document.title,
    },
  };
}

function author() {
  return { role: 'appUser', appUserId: state.user && state.user._id, client: client() };
}

// ---------------------------------------------------------------- UI

const host = document.createElement('div');
host.id = 'sunbeam-messenger';
const root = host.attachShadow({ mode: 'open' });
root.innerHTML = `<style>${CSS}</style>
<button class="launcher" type="button" aria-label="Open chat" aria-expanded="false" aria-controls="sb-panel" aria-haspopup="dialog">
  <svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true" focusable="false"><path fill="currentColor" d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg>
  <span class="badge" hidden aria-hidden="true"></span>
</button>
<section id="sb-panel" class="panel" role="dialog" aria-modal="false" aria-labelledby="sb-title" hidden>
  <header>
    <h2 id="sb-title">Chat</h2>
    <span class="conn" role="status" aria-live="polite"></span>
    <button class="close" type="button" aria-label="Close chat">×</button>
  </header>
  <div class="log" role="log" aria-live="polite" aria-relevant="additions" aria-label="Conversation" tabindex="0">
    <button class="more" type="button" hidden>Load earlier messages</button>
    <ol class="messages"></ol>
  </div>
  <div class="typing" role="status" aria-live="polite"></div>
  <p class="error" role="alert"></p>
  <form class="compose">
    <input type="file" id="sb-file" hidden>
    <button class="attach" type="button" aria-label="Attach a file" title="Attach a file">
      <svg viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false"><path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" d="M20 11.5l-8.1 8.1a5 5 0 0 1-7.1-7.1l8.5-8.5a3.3 3.3 0 0 1 4.7 4.7l-8.5 8.5a1.7 1.7 0 0 1-2.4-2.4l7.8-7.8"/></svg>
    </button>
    <label for="sb-input" class="sr-only">Type a message</label>
    <textarea id="sb-input" rows="1" placeholder="Type a message…" aria-label="Type a message"></textarea>
    <button class="send" type="submit" aria-label="Send message">Send</button>
  </form>
</section>`;

const $ = (sel) => root.querySelector(sel);
const ui = {
  launcher: $('.launcher'),
  badge: $('.badge'),
  panel: $('.panel'),
  title: $('#sb-title'),
  conn: $('.conn'),
  close: $('.close'),
  log: $('.log'),
  more: $('.more'),
  list: $('.messages'),
  typing: $('.typing'),
  form: $('.compose'),
  input: $('#sb-input'),
  file: $('#sb-file'),
  attach: $('.attach'),
  error: $('.error'),
};

let errorTimer = null;
function showError(text) {
  clearTimeout(errorTimer);
  ui.error.textContent = text;
  if (text) errorTimer = setTimeout(() => { ui.error.textContent = ''; }, 8000);
}

let unread = 0;

function setOpen(open) {
  state.open = open;
  ui.panel.hidden = !open;
  ui.launcher.setAttribute('aria-expanded', String(open));
  ui.launcher.setAttribute('aria-label', open ? 'Close chat' : 'Open chat');
  if (open) {
    unread = 0;
    renderBadge();
    ui.input.focus();
    scrollToEnd();
    markRead();
  }
  emit(open ? 'widget:opened' : 'widget:closed');
}

function renderBadge() {
  ui.badge.hidden = unread === 0;
  ui.badge.textContent = unread > 9 ? '9+' : String(unread);
  ui.launcher.setAttribute('aria-label', state.open ? 'Close chat' : unread ? `Open chat, ${unread} unread` : 'Open chat');
}

function safeUrl(u) {
  try {
    const url = new URL(u, location.href);
    return url.protocol === 'https:' || url.protocol === 'http:' || url.protocol === 'data:' && /^data:image\//.test(u) ? url.href : null;
  } catch (_) {
    return null;
  }
}

function isMine(m) {
  return m.role === 'appUser' && (!state.user || !m.authorId || m.authorId === state.user._id);
}

function timeOf(m) {
  return m.received ? new Date(m.received * 1000) : null;
}

function renderMessage(m) {
  const li = document.createElement('li');
  li.className = `msg ${isMine(m) ? 'mine' : 'theirs'}`;
  li.dataset.id = m._id || '';
  li.dataset.type = m.type || 'text';
  if (!isMine(m) && m.name) {
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = m.name;
    li.appendChild(who);
  }
  const bubble = document.createElement('div');
  bubble.className = 'bubble';
  const url = m.mediaUrl && safeUrl(m.mediaUrl);
  if (m.type === 'image' && url) {
    const img = document.createElement('img');
    img.src = url;
    img.alt = m.altText || m.text || 'Image';
    img.loading = 'lazy';
    const a = document.createElement('a');
    a.href = url;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    a.appendChild(img);
    bubble.appendChild(a);
  } else if (m.type === 'file' && url) {
    const a = document.createElement('a');
    a.href = url;
    a.target = '_blank';
    a.rel = 'noopener noreferrer';
    a.className = 'file';
    let name = m.altText;
    if (!name) {
      try { name = decodeURIComponent(new URL(url).pathname.split('/').pop()) || 'File'; } catch (_) { name = 'File'; }
    }
    a.textContent = name;
    a.setAttribute('aria-label', `File: ${name}`);
    bubble.appendChild(a);
  }
  if (m.text && !(m.type === 'image' && m.text === m.altText)) {
    const p = document.createElement('p');
    p.textContent = m.text;
    bubble.appendChild(p);
  }
  if (!bubble.childNodes.length) {
    const p = document.createElement('p');
    p.className = 'unsupported';
    p.textContent = `[${m.type || 'message'}]`;
    bubble.appendChild(p);
  }
  li.appendChild(bubble);
  const t = timeOf(m);
  if (t) {
    const time = document.createElement('time');
    time.dateTime = t.toISOString();
    time.textContent = t.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    li.appendChild(time);
  }
  if (m._pending) li.classList.add('pending');
  return li;
}

function render() {
  ui.list.textContent = '';
  for (const m of state.messages) ui.list.appendChild(renderMessage(m));
  ui.more.hidden = !state.hasPrevious;
  renderRead();
}

function renderRead() {
  for (const el of ui.list.querySelectorAll('.read')) el.remove();
  const lastRead = state.conversation && state.conversation.appMakerLastRead;
  if (!lastRead) return;
  const mine = state.messages.filter((m) => isMine(m) && m.received && m.received <= lastRead);
  const last = mine[mine.length - 1];
  if (!last || state.messages[state.messages.length - 1] !== last) return;
  const li = ui.list.lastElementChild;
  if (!li) return;
  const seen = document.createElement('span');
  seen.className = 'read';
  seen.textContent = 'Seen';
  li.appendChild(seen);
}

function scrollToEnd() {
  ui.log.scrollTop = ui.log.scrollHeight;
}

function renderTyping() {
  ui.typing.textContent = state.businessTyping ? `${state.businessTyping} is typing…` : '';
}

function setConnection(text) {
  ui.conn.textContent = text;
}

// ---------------------------------------------------------------- messages

function sortMessages() {
  state.messages.sort((a, b) => (a.received || Infinity) - (b.received || Infinity));
}

function mergeMessages(list, quiet = false) {
  let added = 0;
  for (const m of list || []) {
    if (!m || !m._id) continue;
    const i = state.messages.findIndex((x) => x._id === m._id);
    if (i >= 0) {
      state.messages[i] = m;
    } else {
      state.messages.push(m);
      added += 1;
      if (!isMine(m) && !quiet) {
        emit('message:received', m);
        if (!state.open) unread += 1;
      }
    }
  }
  sortMessages();
  return added;
}

async function fetchMessages() {
  if (!state.conversation) return;
  const res = await api('GET', appPath(`/conversations/${state.conversation._id}/messages`));
  const nearEnd = ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 40;
  if (res.conversation) state.conversation = { ...state.conversation, ...res.conversation };
  const added = mergeMessages(res.messages, state.messages.length === 0);
  if (state.messages.length <= (res.messages || []).length) state.hasPrevious = !!res.hasPrevious;
  render();
  renderBadge();
  if (added || nearEnd) scrollToEnd();
  if (added) markRead();
}

async function loadEarlier() {
  const oldest = state.messages.find((m) => m.received);
  if (!state.conversation || !oldest) return;
  ui.more.disabled = true;
  try {
    const res = await api('GET', appPath(`/conversations/${state.conversation._id}/messages?before=${oldest.received}`));
    const height = ui.log.scrollHeight;
    for (const m of res.messages || []) {
      if (!state.messages.some((x) => x._id === m._id)) state.messages.push(m);
    }
    sortMessages();
    state.hasPrevious = !!res.hasPrevious;
    render();
    ui.log.scrollTop = ui.log.scrollHeight - height;
    const first = ui.list.firstElementChild;
    if (first) { first.tabIndex = -1; first.focus({ preventScroll: true }); }
  } finally {
    ui.more.disabled = false;
  }
}

let lastReadSent = 0;
function markRead() {
  if (!state.open || !state.conversation || document.hidden) return;
  const last = state.messages[state.messages.length - 1];
  if (!last || isMine(last) || (last.received || 0) <= lastReadSent) return;
  lastReadSent = last.received || 0;
  api('POST', appPath(`/conversations/${state.conversation._id}/activity`), { activity: { type: 'conversation:read' }, author: author() }).catch(() => {});
}

let typingSent = false;
let typingTimer = null;
function sendTyping(active) {
  if (!state.conversation || typingSent === active) return;
  typingSent = active;
  api('POST', appPath(`/conversations/${state.conversation._id}/activity`), { activity: { type: active ? 'typing:start' : 'typing:stop' }, author: author() }).catch(() => {});
}

function onInput() {
  if (!ui.input.value.trim()) {
    clearTimeout(typingTimer);
    sendTyping(false);
    return;
  }
  sendTyping(true);
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => sendTyping(false), TYPING_IDLE_MS);
}

// ---------------------------------------------------------------- users and conversations

async function loadUserResponse(res) {
  state.user = res.appUser || null;
  if (res.settings && res.settings.realtime) state.realtime = res.settings.realtime;
  const list = res.conversations || [];
  state.conversation = res.conversation || list[0] || null;
  state.messages = [];
  state.hasPrevious = false;
  render();
  if (state.conversation) await fetchMessages();
  subscribe();
}

async function ensureConversation() {
  if (!state.user) {
    const res = await api('POST', appPath('/appusers'), { userId: '', intent: 'conversation:start', client: client() }, null);
    state.appUserId = res.appUser._id;
    state.sessionToken = res.sessionToken;
    store.set('appUserId', state.appUserId);
    store.set('sessionToken', state.sessionToken);
    await loadUserResponse(res);
  }
  if (!state.conversation) {
    const res = await api('POST', appPath(`/appusers/${state.user._id}/conversation`), { client: client(), intent: 'conversation:start' });
    state.conversation = res.conversation;
    subscribe();
  }
}

async function sendMessage(text) {
  text = String(text || '').trim();
  if (!text) return null;
  await ready;
  await ensureConversation();
  clearTimeout(typingTimer);
  typingSent = false;
  const res = await api('POST', appPath(`/conversations/${state.conversation._id}/messages`), { message: { type: 'text', text, role: 'appUser' }, author: author() });
  if (res.message) {
    mergeMessages([res.message]);
    render();
    scrollToEnd();
    emit('message:sent', res.message);
  }
  return res.message;
}

async function sendFile(file, metadata) {
  if (!file) return null;
  if (file.size > MAX_FILE_BYTES) throw new Error('File too large (50 MB max)');
  await ready;
  await ensureConversation();
  const body = new FormData();
  body.append('author', JSON.stringify(author()));
  body.append('message', JSON.stringify(metadata ? { metadata } : {}));
  body.append('source', file, file.name || 'file');
  const res = await api('POST', appPath(`/conversations/${state.conversation._id}/files`), body);
  if (res.message) {
    mergeMessages([res.message]);
    render();
    scrollToEnd();
    emit('message:sent', res.message);
  }
  return res.message;
}

async function onFilePicked() {
  const file = ui.file.files && ui.file.files[0];
  ui.file.value = '';
  if (!file) return;
  showError('');
  ui.attach.disabled = true;
  ui.attach.setAttribute('aria-busy', 'true');
  try {
    await sendFile(file);
  } catch (err) {
    showError(`Could not send ${file.name}: ${err.status === 413 ? 'file too large (50 MB max)' : err.message}`);
  } finally {
    ui.attach.disabled = false;
    ui.attach.removeAttribute('aria-busy');
    ui.attach.focus();
  }
}

// ---------------------------------------------------------------- realtime

function channel() {
  return `/sdk/apps/${state.appId}/appusers/${state.user._id}`;
}

function startPolling() {
  if (state.pollTimer) return;
  state.pollTimer = setInterval(() => { fetchMessages().catch(() => {}); }, POLL_MS);
}

function stopPolling() {
  clearInterval(state.pollTimer);
  state.pollTimer = null;
}

function unsubscribe() {
  stopPolling();
  if (state.subscription) state.subscription.cancel();
  if (state.faye) state.faye.disconnect();
  state.subscription = null;
  state.faye = null;
  state.realtimeUp = false;
  state.subscribed = false;
  setConnection('');
}

function subscribe() {
  if (state.subscription || !state.user || !state.conversation) return;
  const rt = state.realtime;
  if (!rt || rt.enabled === false || !rt.baseUrl) {
    // No realtime endpoint: poll the messages endpoint instead.
    startPolling();
    return;
  }
  const faye = new Faye.Client(rt.baseUrl, { timeout: 60, retry: 5 });
  faye.addExtension({
    outgoing(message, callback) {
      if (message.channel === '/meta/subscribe') {
        message.ext = state.jwt
          ? { appId: state.appId, appUserId: state.user._id, jwt: state.jwt }
          : { appId: state.appId, appUserId: state.user._id, sessionToken: state.sessionToken };
      }
      callback(message);
    },
  });
  faye.on('transport:up', () => {
    if (state.faye !== faye) return;
    state.realtimeUp = true;
    if (state.subscribed) stopPolling();
    setConnection('');
    // Catch up on whatever was missed while down.
    fetchMessages().catch(() => {});
    emit('connected');
  });
  faye.on('transport:down', () => {
    if (state.faye !== faye) return;
    state.realtimeUp = false;
    setConnection('Reconnecting…');
    startPolling();
    emit('disconnected');
  });
  state.faye = faye;
  const sub = faye.subscribe(channel(), onEvents);
  sub.then(
    () => {
      state.subscribed = true;
      stopPolling();
      emit('realtime:subscribed');
      fetchMessages().catch(() => {});
    },
    (err) => {
      // E.g. a server that does not take session tokens on /meta/subscribe yet.
      console.warn('Sunbeam: realtime subscription refused, polling the messages instead:', err && err.message);
      if (state.faye === faye) {
        faye.disconnect();
        state.faye = null;
        state.subscription = null;
        state.realtimeUp = false;
      }
      startPolling();
    },
  );
  state.subscription = sub;
}

function onEvents(data) {
  const events = (data && data.events) || [];
  emit('realtime:events', events);
  let changed = false;
  for (const e of events) {
    if (!state.conversation || !e.conversation || e.conversation._id !== state.conversation._id) continue;
    if (e.type === 'message' && e.message) {
      if (!isMine(e.message)) state.businessTyping = false;
      if (mergeMessages([e.message])) changed = true;
    } else if (e.type === 'activity' && e.activity) {
      const a = e.activity;
      if (a.role === 'appUser' && (!a.appUserId || a.appUserId === state.user._id)) continue;
      if (a.type === 'typing:start') {
        state.businessTyping = (a.data && a.data.name) || 'Support';
        emit('typing:start', a);
      } else if (a.type === 'typing:stop') {
        state.businessTyping = false;
        emit('typing:stop', a);
      } else if (a.type === 'conversation:read') {
        const lastRead = (e.conversation && e.conversation.appMakerLastRead) || (a.data && a.data.lastRead) || a.lastRead || Date.now() / 1000;
        state.conversation.appMakerLastRead = lastRead;
        emit('conversation:read', a);
      }
      renderTyping();
      renderRead();
      scrollToEnd();
    }
  }
  if (changed) {
    render();
    renderBadge();
    renderTyping();
    scrollToEnd();
    markRead();
  }
}

// ---------------------------------------------------------------- login / logout

async function login(externalId, jwt) {
  await ready;
  unsubscribe();
  const body = { userId: externalId, client: client() };
  if (state.appUserId && state.sessionToken && !state.jwt) {
    body.appUserId = state.appUserId;
    body.sessionToken = state.sessionToken;
  }
  const res = await api('POST', appPath('/login'), body, `Bearer ${jwt}`);
  state.jwt = jwt;
  state.externalId = externalId;
  state.appUserId = null;
  state.sessionToken = null;
  store.del('appUserId');
  store.del('sessionToken');
  state.user = null;
  state.conversation = null;
  if (res.appUser) await loadUserResponse(res);
  else render();
  emit('login', state.user);
  return state.user;
}

async function logout() {
  await ready;
  if (!state.jwt) return;
  const user = state.user;
  unsubscribe();
  if (user) {
    await api('POST', appPath(`/appusers/${user._id}/logout`), { client: { id: clientId() } }).catch(() => {});
  }
  state.jwt = null;
  state.externalId = null;
  state.user = null;
  state.conversation = null;
  state.messages = [];
  state.hasPrevious = false;
  state.businessTyping = false;
  store.del('appUserId');
  store.del('sessionToken');
  render();
  renderTyping();
  emit('logout');
}

// ---------------------------------------------------------------- start

async function init() {
  if (!integrationId) throw new Error('Sunbeam: the script tag needs data-integration-id');
  const cfg = await api('GET', `/sdk/v2/integrations/${encodeURIComponent(integrationId)}/config`, undefined, null);
  state.appId = cfg.config.app._id;
  state.appName = (cfg.config.integration && cfg.config.integration.displayName) || cfg.config.app.name || 'Chat';
  ui.title.textContent = state.appName;
  if (state.appUserId && state.sessionToken) {
    try {
      await loadUserResponse(await api('GET', appPath(`/appusers/${state.appUserId}`)));
    } catch (e) {
      if (e.status === 401 || e.status === 404) {
        state.appUserId = null;
        state.sessionToken = null;
        store.del('appUserId');
        store.del('sessionToken');
      } else {
        throw e;
      }
    }
  }
  emit('ready');
}

ui.launcher.addEventListener('click', () => setOpen(!state.open));
ui.close.addEventListener('click', () => { setOpen(false); ui.launcher.focus(); });
ui.more.addEventListener('click', () => { loadEarlier().catch((e) => console.error(e)); });
ui.panel.addEventListener('keydown', (e) => {
  if (e.key === 'Escape') { setOpen(false); ui.launcher.focus(); }
});
ui.input.addEventListener('input', onInput);
ui.attach.addEventListener('click', () => ui.file.click());
ui.file.addEventListener('change', () => { onFilePicked(); });
ui.input.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    ui.form.requestSubmit();
  }
});
ui.form.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = ui.input.value;
  if (!text.trim()) return;
  ui.input.value = '';
  sendMessage(text).catch((err) => {
    ui.input.value = text;
    showError(`Not sent: ${err.message}`);
  });
});
document.addEventListener('visibilitychange', () => { if (!document.hidden) markRead(); });

function mount() {
  document.body.appendChild(host);
  if (dataset.open === 'true') setOpen(true);
}
if (document.body) mount();
else document.addEventListener('DOMContentLoaded', mount);

const ready = init().catch((e) => {
  console.error(e);
  setConnection('Chat unavailable');
  emit('error', e);
});

window.Sunbeam = {
  ready,
  login,
  logout,
  sendMessage,
  sendFile,
  open: () => setOpen(true),
  close: () => setOpen(false),
  loadEarlier,
  on(name, cb) { (listeners[name] = listeners[name] || []).push(cb); },
  off(name, cb) { listeners[name] = (listeners[name] || []).filter((x) => x !== cb); },
  getUser: () => state.user && { ...state.user },
  getConversation: () => state.conversation && { ...state.conversation },
  isRealtimeConnected: () => state.realtimeUp && state.subscribed,
};
