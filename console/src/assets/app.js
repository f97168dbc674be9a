// rmq console UI: plain JavaScript, no build step, no external requests.
// All untrusted text (topic names, message bodies, errors) goes through textContent, never
// innerHTML.
'use strict';

// ---------- DOM helpers ----------
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of kids.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
  return el;
}
const $main = () => document.getElementById('main');
function setMain(...kids) { const m = $main(); m.textContent = ''; m.append(...kids); }
function fmtTime(ms) { return ms ? new Date(ms).toLocaleString() : '–'; }
function fmtInt(n) { return n == null ? '–' : Number(n).toLocaleString(); }
function fmtTps(n) { return n == null ? '–' : (n >= 100 ? n.toFixed(0) : n.toFixed(1)); }
function spinner() { return h('span', { class: 'spinner' }); }

// ---------- API ----------
class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status; this.info = e;
  }
}
async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) { opts.headers['content-type'] = 'application/json'; opts.body = JSON.stringify(body); }
  const r = await fetch('/api' + path, opts);
  let data = null;
  try { data = await r.json(); } catch (_) { /* non-JSON */ }
  if (!r.ok) {
    const err = new ApiError(r.status, data);
    if (r.status === 401 && err.info.kind === 'auth' && path !== '/login') { state.session.loggedIn = false; renderSession(); }
    throw err;
  }
  return data;
}
const qs = (o) => Object.entries(o).filter(([, v]) => v !== undefined && v !== null && v !== '').map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');

/** An error box that names the broker (502) or says what was wrong. */
function errorBox(e) {
  const box = h('div', { class: 'error', role: 'alert' });
  if (e instanceof ApiError) {
    const i = e.info;
    if (i.kind === 'broker') box.append(h('b', {}, `Broker ${i.broker} (${i.addr}) failed`), ': ', e.message);
    else if (i.kind === 'allBrokers') box.append(h('b', {}, 'All brokers failed'), ': ', e.message);
    else if (i.kind === 'namesrv') box.append(h('b', {}, `Nameserver ${i.addr} failed`), ': ', e.message);
    else if (i.kind === 'auth') box.append(h('b', {}, 'Login required'), ' — ', h('button', { class: 'link', onclick: () => loginDialog() }, 'log in'), ' to do this.');
    else box.append(h('b', {}, `Error ${e.status}`), ': ', e.message);
  } else box.append(h('b', {}, 'Error'), ': ', String(e.message || e));
  return box;
}
/** "broker X failed" notes for a partial answer. */
function failureNotes(failures) {
  if (!failures || !failures.length) return null;
  return h('div', { class: 'note', role: 'status' },
    h('b', {}, `${failures.length} broker${failures.length > 1 ? 's' : ''} did not answer; showing the rest. `),
    failures.map((f) => h('div', {}, `broker ${f.broker} (${f.addr}) failed: ${f.error}`)));
}
function lagCell(lag) {
  if (!lag) return h('span', { class: 'badge unknown' }, 'unknown');
  if (lag.state === 'known') return h('span', { class: lag.value > 0 ? 'badge warn' : 'badge ok' }, fmtInt(lag.value));
  return h('span', { class: 'badge unknown', title: lag.reason || '' }, 'unknown');
}

// ---------- session ----------
const state = { session: { loggedIn: false, readsOpen: true }, timers: [] };
async function loadSession() {
  try { state.session = await api('GET', '/session'); } catch (_) { /* shown by pages */ }
  renderSession();
}
function renderSession() {
  const el = document.getElementById('session');
  el.textContent = '';
  if (state.session.loggedIn) el.append(h('span', {}, 'admin'), h('button', { onclick: logout, id: 'logout' }, 'Log out'));
  else el.append(h('button', { class: 'primary', id: 'login-btn', onclick: () => loginDialog() }, 'Log in'));
}
async function logout() { await api('POST', '/logout'); state.session.loggedIn = false; renderSession(); }
function closeModal() { document.getElementById('modal').hidden = true; }
function modal(...kids) {
  const box = document.getElementById('modal-box');
  box.textContent = ''; box.append(...kids);
  document.getElementById('modal').hidden = false;
}
function loginDialog(after) {
  const pw = h('input', { type: 'password', id: 'login-password', autocomplete: 'current-password' });
  const msg = h('div');
  const submit = async (ev) => {
    ev.preventDefault();
    try {
      await api('POST', '/login', { password: pw.value });
      state.session.loggedIn = true; renderSession(); closeModal();
      if (after) after();
    } catch (e) { msg.textContent = ''; msg.append(errorBox(e)); }
  };
  modal(h('h2', {}, 'Log in as admin'),
    h('p', { class: 'muted' }, 'Changes (create, delete, reset, resend, send) need the admin password. It was printed once when mqconsole first started, or set as adminPassword in console.conf.'),
    msg,
    h('form', { onsubmit: submit, class: 'row' }, pw, h('button', { class: 'primary', type: 'submit', id: 'login-submit' }, 'Log in'), h('button', { type: 'button', onclick: closeModal }, 'Cancel')));
  pw.focus();
}
/** Run a write; ask for the login first when needed. */
async function write(fn) {
  if (!state.session.loggedIn) { return new Promise((resolve) => loginDialog(async () => resolve(await write(fn)))); }
  return fn();
}
function confirmDialog(title, text, okLabel, onOk) {
  modal(h('h2', {}, title), h('p', {}, text),
    h('div', { class: 'row' }, h('button', { class: 'danger solid', id: 'confirm-ok', onclick: () => { closeModal(); onOk(); } }, okLabel), h('button', { onclick: closeModal }, 'Cancel')));
}

// ---------- router ----------
const routes = [
  [/^\/(overview)?$/, () => pageOverview()],
  [/^\/topics$/, () => pageTopics()],
  [/^\/topics\/(.+)$/, (m) => pageTopic(decodeURIComponent(m[1]))],
  [/^\/groups$/, () => pageGroups()],
  [/^\/groups\/(.+)$/, (m) => pageGroup(decodeURIComponent(m[1]))],
  [/^\/messages$/, () => pageMessages()],
  [/^\/message\/([^/]+)\/(.+)$/, (m) => pageMessage(decodeURIComponent(m[1]), decodeURIComponent(m[2]))],
  [/^\/dlq$/, () => pageDlq()],
  [/^\/producers$/, () => pageProducers()],
];
function go(path) { history.pushState(null, '', path); route(); }
function link(path, text, attrs) { return h('a', Object.assign({ href: path, onclick: (e) => { if (e.ctrlKey || e.metaKey) return; e.preventDefault(); go(path); } }, attrs || {}), text); }
function route() {
  state.timers.forEach(clearInterval); state.timers = [];
  closeModal();
  const path = location.pathname;
  const page = path.split('/')[1] || 'overview';
  document.querySelectorAll('#nav a').forEach((a) => a.classList.toggle('active', a.dataset.page === (page === 'message' ? 'messages' : page)));
  for (const [re, fn] of routes) { const m = path.match(re); if (m) { fn(m); return; } }
  setMain(h('h1', {}, 'Not found'), h('p', {}, 'No page at ', path));
}
window.addEventListener('popstate', route);
document.getElementById('nav').addEventListener('click', (e) => {
  const a = e.target.closest('a'); if (!a || e.ctrlKey || e.metaKey) return;
  e.preventDefault(); go(a.getAttribute('href'));
});
document.getElementById('modal').addEventListener('click', (e) => { if (e.target.id === 'modal') closeModal(); });

// ---------- Overview ----------
// Broker groups in controller mode: master, epochs, and each replica with its offset and
// whether it is in the in-sync set (from the group's controllers).
function electMaster(g, r, reload) {
  confirmDialog('Elect master', `Make broker ${r.brokerId} (${r.addr}) the master of ${g.brokerName}? Its controllers bump the master epoch; the current master becomes a replica and clients follow the new route.`, 'Elect', () =>
    write(async () => {
      try {
        const n = await api('POST', '/controller/elect', { cluster: g.cluster, brokerName: g.brokerName, brokerId: r.brokerId });
        modal(h('h2', {}, 'Master elected'), h('div', { class: 'okbox', id: 'elect-result' }, `${n.brokerName}: master ${n.masterBrokerId} (${n.masterAddr || '?'}), epoch ${n.masterEpoch}`),
          h('button', { onclick: closeModal, id: 'elect-close' }, 'Close'));
        reload();
      } catch (e) { showError(e); }
    }));
}
function controllerView(groups, reload) {
  if (!groups.length) return '';
  const rows = [];
  for (const g of groups) {
    if (g.error) {
      rows.push(h('tr', {}, h('td', {}, g.cluster), h('td', {}, g.brokerName), h('td', { colspan: 7 }, h('span', { class: 'badge bad' }, g.error))));
      continue;
    }
    const master = g.masterBrokerId == null ? h('span', { class: 'badge bad' }, 'no master') : `${g.masterBrokerId} (${g.masterAddr || '?'})`;
    for (const [i, r] of g.replicas.entries()) {
      rows.push(h('tr', {},
        h('td', {}, i ? '' : g.cluster), h('td', {}, i ? '' : g.brokerName), h('td', {}, i ? '' : master),
        h('td', { class: 'num' }, i ? '' : `${g.masterEpoch} / ${g.syncStateSetEpoch}`),
        h('td', { class: 'mono' }, `${r.brokerId} ${r.addr}`), h('td', {}, r.master ? 'master' : 'replica'),
        h('td', { class: 'num' }, fmtInt(r.maxOffset)),
        h('td', {}, h('span', { class: 'badge ' + (r.inSync ? 'ok' : 'bad') }, r.inSync ? 'in sync' : 'not in sync'),
          ' ', r.alive ? '' : h('span', { class: 'badge bad' }, 'not alive')),
        // Only a live in-sync replica can be designated (the controllers refuse the others).
        h('td', {}, !r.master && r.inSync && r.alive
          ? h('button', { class: 'elect', 'data-broker': g.brokerName, 'data-id': r.brokerId, onclick: () => electMaster(g, r, reload) }, 'Make master') : '')));
    }
  }
  return h('div', { style: 'margin-top:12px' }, h('b', {}, 'Controller mode'),
    h('table', { id: 'controller-groups' }, h('thead', {}, h('tr', {}, ['Cluster', 'Broker', 'Master', 'Epoch / SSS epoch', 'Replica', 'Role', 'Max offset', 'In-sync', ''].map((x) => h('th', {}, x)))),
      h('tbody', {}, rows)));
}

async function pageOverview() {
  const table = h('div', {}, spinner());
  const c1 = h('canvas', { id: 'chart-brokers' }), l1 = h('div', { class: 'legend' });
  const c2 = h('canvas', { id: 'chart-topics' }), l2 = h('div', { class: 'legend' });
  const sampleNote = h('div');
  setMain(h('h1', {}, 'Overview'), table,
    h('div', { class: 'charts' },
      h('div', { class: 'panel chart' }, h('b', {}, 'Broker TPS (in / out)'), c1, l1),
      h('div', { class: 'panel chart' }, h('b', {}, 'Top topics TPS (in)'), c2, l2)),
    sampleNote, h('p', { class: 'muted' }, 'TPS is sampled by the console every few seconds; the last hour is kept.'));
  const loadTable = async () => {
    try {
      const o = await api('GET', '/overview');
      const rows = o.brokers.map((b) => h('tr', {},
        h('td', {}, b.cluster), h('td', {}, b.brokerName), h('td', { class: 'num' }, b.brokerId), h('td', { class: 'mono' }, b.addr),
        h('td', {}, b.role), h('td', {}, b.version || '–'),
        h('td', { class: 'num' }, fmtTps(b.inTps)), h('td', { class: 'num' }, fmtTps(b.outTps)),
        h('td', { class: 'num' }, fmtInt(b.putToday)), h('td', { class: 'num' }, fmtInt(b.getToday)),
        h('td', { class: 'num' }, b.diskRatio == null ? '–' : (b.diskRatio * 100).toFixed(1) + '%'),
        h('td', { class: 'num' }, fmtInt(b.maxOffset)), h('td', { class: 'num' }, b.brokerId === 0 ? '–' : fmtInt(b.behindBytes)),
        h('td', {}, b.error ? h('span', { class: 'badge bad', title: b.error }, 'failed: ' + b.error) : h('span', { class: 'badge ok' }, 'ok'))));
      table.textContent = '';
      table.append(failureNotes(o.failures) || '',
        h('div', { class: 'muted', style: 'margin-bottom:8px' }, 'Nameserver: ', o.namesrv.join('; ')),
        h('table', { id: 'brokers' }, h('thead', {}, h('tr', {}, ['Cluster', 'Broker', 'Id', 'Address', 'Role', 'Version'].map((x) => h('th', {}, x)),
          ['In TPS', 'Out TPS', 'Put today', 'Get today', 'Disk', 'Max offset', 'Behind (bytes)'].map((x) => h('th', { class: 'num' }, x)), h('th', {}, 'Status'))),
        h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 12, class: 'muted' }, 'No broker registered on the nameserver.')))),
        controllerView(o.controllerGroups || [], loadTable));
    } catch (e) { table.textContent = ''; table.append(errorBox(e)); }
  };
  const loadCharts = async () => {
    try {
      const s = await api('GET', '/tps?top=5');
      const bs = {};
      for (const [k, v] of Object.entries(s.brokerIn)) bs[k.split('@')[0] + ' in'] = v;
      for (const [k, v] of Object.entries(s.brokerOut)) bs[k.split('@')[0] + ' out'] = v;
      drawLineChart(c1, l1, s.times, bs, '/s');
      drawLineChart(c2, l2, s.times, s.topics, '/s');
      sampleNote.textContent = '';
      if (s.lastError) sampleNote.append(h('div', { class: 'note' }, 'Last TPS sample failed: ', s.lastError));
    } catch (e) { sampleNote.textContent = ''; sampleNote.append(errorBox(e)); }
  };
  await Promise.all([loadTable(), loadCharts()]);
  state.timers.push(setInterval(loadCharts, 5000), setInterval(loadTable, 10000));
}

// ---------- Topics ----------
const topicFilter = { q: '', kinds: ['normal'], page: 1, size: 50 };
async function pageTopics() {
  const out = h('div', {}, spinner());
  const search = h('input', { type: 'search', placeholder: 'Search topics', id: 'topic-search', value: topicFilter.q });
  const kindBoxes = ['normal', 'retry', 'dlq', 'system'].map((k) => {
    const cb = h('input', { type: 'checkbox', checked: topicFilter.kinds.includes(k), 'data-kind': k });
    cb.addEventListener('change', () => { topicFilter.kinds = kindBoxes.filter((x) => x.firstChild.checked).map((x) => x.firstChild.dataset.kind); topicFilter.page = 1; load(); });
    return h('label', {}, cb, k === 'dlq' ? 'DLQ' : k);
  });
  let t;
  search.addEventListener('input', () => { clearTimeout(t); t = setTimeout(() => { topicFilter.q = search.value; topicFilter.page = 1; load(); }, 250); });
  setMain(h('div', { class: 'row' }, h('h1', { class: 'grow' }, 'Topics'), h('button', { class: 'primary', id: 'create-topic', onclick: () => topicForm() }, 'Create topic')),
    h('div', { class: 'panel row' }, search, kindBoxes), out);
  async function load() {
    out.textContent = ''; out.append(spinner());
    try {
      const p = await api('GET', '/topics?' + qs({ q: topicFilter.q, kinds: topicFilter.kinds.join(',') || 'none', page: topicFilter.page, size: topicFilter.size }));
      out.textContent = '';
      out.append(failureNotes(p.failures) || '',
        h('table', { id: 'topics' }, h('thead', {}, h('tr', {}, h('th', {}, 'Topic'), h('th', {}, 'Kind'), h('th', {}, 'Brokers'), h('th', { class: 'num' }, 'Read queues'), h('th', { class: 'num' }, 'Write queues'), h('th', {}, 'Perm'), h('th', {}, ''))),
          h('tbody', {}, p.items.length ? p.items.map((x) => h('tr', {},
            h('td', {}, link('/topics/' + encodeURIComponent(x.name), x.name)), h('td', {}, h('span', { class: 'badge' }, x.kind)),
            h('td', {}, x.brokers.join(', ')), h('td', { class: 'num' }, x.readQueues), h('td', { class: 'num' }, x.writeQueues), h('td', {}, permText(x.perm)),
            h('td', {}, h('button', { class: 'danger', onclick: () => deleteTopic(x.name, load) }, 'Delete'))))
            : h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No topic matches.')))),
        pager(p, (n) => { topicFilter.page = n; load(); }));
    } catch (e) { out.textContent = ''; out.append(errorBox(e)); }
  }
  await load();
}
function permText(p) { return `${p} (${p & 4 ? 'R' : '-'}${p & 2 ? 'W' : '-'})`; }
function pager(p, goto) {
  const pages = Math.max(1, Math.ceil(p.total / p.size));
  return h('div', { class: 'pager' }, h('span', { class: 'muted' }, `${fmtInt(p.total)} total · page ${p.page} of ${pages}`),
    h('button', { disabled: p.page <= 1, onclick: () => goto(p.page - 1) }, '‹ Prev'),
    h('button', { disabled: p.page >= pages, onclick: () => goto(p.page + 1), id: 'next-page' }, 'Next ›'));
}
function deleteTopic(name, after) {
  confirmDialog('Delete topic', `Delete topic "${name}" from every broker and the nameserver? Messages in it become unreachable.`, 'Delete', () =>
    write(async () => {
      try { const r = await api('DELETE', '/topics/' + encodeURIComponent(name)); showOpResults('Topic deleted', r); if (after) after(); } catch (e) { showError(e); }
    }));
}
function showOpResults(title, results) {
  const bad = results.filter((r) => !r.ok);
  modal(h('h2', {}, title), bad.length ? h('div', { class: 'error' }, `${bad.length} of ${results.length} failed`) : h('div', { class: 'okbox' }, 'Done on every broker.'),
    h('table', {}, h('tbody', {}, results.map((r) => h('tr', {}, h('td', {}, r.broker), h('td', { class: 'mono' }, r.addr), h('td', {}, r.ok ? h('span', { class: 'badge ok' }, 'ok') : h('span', { class: 'badge bad' }, r.error || 'failed')))))),
    h('p', {}, h('button', { onclick: closeModal, id: 'close-modal' }, 'Close')));
}
function showError(e) { modal(errorBox(e), h('button', { onclick: closeModal }, 'Close')); }
function topicForm(existing) {
  const f = {
    name: h('input', { id: 'tf-name', value: existing ? existing.name : '', disabled: !!existing, required: true }),
    read: h('input', { id: 'tf-read', type: 'number', min: 1, max: 1024, value: existing ? existing.read : 4 }),
    write: h('input', { id: 'tf-write', type: 'number', min: 1, max: 1024, value: existing ? existing.write : 4 }),
    perm: h('select', { id: 'tf-perm' }, [[6, '6 read + write'], [4, '4 read only'], [2, '2 write only']].map(([v, t]) => h('option', { value: v }, t))),
    order: h('input', { type: 'checkbox', id: 'tf-order' }),
  };
  if (existing) f.perm.value = existing.perm;
  const msg = h('div');
  const submit = (ev) => {
    ev.preventDefault();
    write(async () => {
      try {
        const r = await api('POST', '/topics', { name: f.name.value.trim(), readQueues: +f.read.value, writeQueues: +f.write.value, perm: +f.perm.value, order: f.order.checked });
        showOpResults(existing ? 'Topic updated' : 'Topic created', r);
        if (!existing) setTimeout(() => { closeModal(); go('/topics/' + encodeURIComponent(f.name.value.trim())); }, 0);
      } catch (e) { msg.textContent = ''; msg.append(errorBox(e)); }
    });
  };
  modal(h('h2', {}, existing ? 'Update topic' : 'Create topic'), msg,
    h('form', { class: 'grid', onsubmit: submit },
      h('label', {}, 'Name'), f.name, h('label', {}, 'Read queues'), f.read, h('label', {}, 'Write queues'), f.write,
      h('label', {}, 'Permission'), f.perm, h('label', {}, 'Ordered'), f.order,
      h('span'), h('div', { class: 'row' }, h('button', { class: 'primary', type: 'submit', id: 'tf-submit' }, existing ? 'Update' : 'Create'), h('button', { type: 'button', onclick: closeModal }, 'Cancel'))));
  if (!existing) f.name.focus();
}
function tabs(names, onSelect, initial) {
  const bar = h('div', { class: 'tabs', role: 'tablist' });
  const btns = names.map((n) => h('button', { role: 'tab', 'data-tab': n, onclick: () => select(n) }, n));
  bar.append(...btns);
  function select(n) { btns.forEach((b) => b.classList.toggle('active', b.dataset.tab === n)); onSelect(n); }
  setTimeout(() => select(initial || names[0]), 0);
  return bar;
}
async function pageTopic(name) {
  const body = h('div');
  const head = h('div', { class: 'row' }, h('h1', { class: 'grow' }, 'Topic ', h('span', { class: 'mono' }, name)),
    h('button', { onclick: async () => { try { const r = await api('GET', `/topics/${encodeURIComponent(name)}/route`); const q = r.queues[0] || {}; topicForm({ name, read: q.readQueues || 4, write: q.writeQueues || 4, perm: q.perm || 6 }); } catch (e) { showError(e); } } }, 'Update queues / perm'),
    h('button', { class: 'danger', onclick: () => deleteTopic(name, () => go('/topics')) }, 'Delete'));
  setMain(link('/topics', '‹ Topics'), head, tabs(['Status', 'Route', 'Consumers', 'Send message'], (t) => show(t)), body);
  async function show(t) {
    body.textContent = ''; body.append(spinner());
    const enc = encodeURIComponent(name);
    try {
      if (t === 'Status') {
        const p = await api('GET', `/topics/${enc}/status`);
        body.textContent = '';
        body.append(failureNotes(p.failures) || '', h('table', { id: 'topic-status' },
          h('thead', {}, h('tr', {}, h('th', {}, 'Broker'), h('th', { class: 'num' }, 'Queue'), h('th', { class: 'num' }, 'Min offset'), h('th', { class: 'num' }, 'Max offset'), h('th', {}, 'Last update'))),
          h('tbody', {}, p.items.map((q) => h('tr', {}, h('td', {}, q.brokerName), h('td', { class: 'num' }, q.queueId), h('td', { class: 'num' }, fmtInt(q.minOffset)), h('td', { class: 'num' }, fmtInt(q.maxOffset)), h('td', {}, q.lastUpdateTimestamp ? fmtTime(q.lastUpdateTimestamp) : h('span', { class: 'muted' }, 'empty')))))));
      } else if (t === 'Route') {
        const r = await api('GET', `/topics/${enc}/route`);
        body.textContent = '';
        body.append(h('h2', {}, 'Brokers'), h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Broker'), h('th', {}, 'Cluster'), h('th', {}, 'Addresses (id → addr)'))),
          h('tbody', {}, r.brokers.map((b) => h('tr', {}, h('td', {}, b.brokerName), h('td', {}, b.cluster), h('td', { class: 'mono' }, Object.entries(b.addrs).map(([k, v]) => `${k} → ${v}`).join(', ')))))),
        h('h2', {}, 'Queues'), h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, 'Broker'), h('th', { class: 'num' }, 'Read'), h('th', { class: 'num' }, 'Write'), h('th', {}, 'Perm'))),
          h('tbody', {}, r.queues.map((q) => h('tr', {}, h('td', {}, q.brokerName), h('td', { class: 'num' }, q.readQueues), h('td', { class: 'num' }, q.writeQueues), h('td', {}, permText(q.perm)))))));
      } else if (t === 'Consumers') {
        const p = await api('GET', `/topics/${enc}/consumers`);
        body.textContent = '';
        body.append(failureNotes(p.failures) || '', h('table', { id: 'topic-consumers' }, h('thead', {}, h('tr', {}, h('th', {}, 'Group'), h('th', { class: 'num' }, 'Lag on this topic'))),
          h('tbody', {}, p.items.length ? p.items.map((g) => h('tr', {}, h('td', {}, link('/groups/' + encodeURIComponent(g.group), g.group)), h('td', { class: 'num' }, lagCell(g.lag))))
            : h('tr', {}, h('td', { colspan: 2, class: 'muted' }, 'No consumer group consumes this topic.')))));
      } else {
        const tags = h('input', { id: 'send-tags', placeholder: 'TagA' });
        const keys = h('input', { id: 'send-keys', placeholder: 'order-1 (space separated)' });
        const text = h('textarea', { id: 'send-body', placeholder: 'message body' });
        const res = h('div');
        body.textContent = '';
        body.append(h('form', { class: 'grid', onsubmit: (ev) => { ev.preventDefault(); write(async () => {
          try {
            const r = await api('POST', `/topics/${enc}/send`, { tags: tags.value, keys: keys.value, body: text.value });
            res.textContent = '';
            res.append(h('div', { class: 'okbox', id: 'send-result' }, `${r.status}: msgId `, h('span', { class: 'mono', id: 'sent-msg-id' }, r.msgId), ` on ${r.brokerName} queue ${r.queueId} offset ${r.queueOffset} `,
              link(`/message/${enc}/${encodeURIComponent(r.msgId)}`, 'open')));
          } catch (e) { res.textContent = ''; res.append(errorBox(e)); }
        }); } }, h('label', {}, 'Tags'), tags, h('label', {}, 'Keys'), keys, h('label', {}, 'Body'), text, h('span'), h('button', { class: 'primary', type: 'submit', id: 'send-submit' }, 'Send')), res);
      }
    } catch (e) { body.textContent = ''; body.append(errorBox(e)); }
  }
}

// ---------- Consumer groups ----------
const groupFilter = { q: '', system: false, page: 1, size: 50 };
async function pageGroups() {
  const out = h('div', {}, spinner());
  const search = h('input', { type: 'search', placeholder: 'Search groups', id: 'group-search', value: groupFilter.q });
  const sys = h('input', { type: 'checkbox', checked: groupFilter.system });
  sys.addEventListener('change', () => { groupFilter.system = sys.checked; groupFilter.page = 1; load(); });
  let t;
  search.addEventListener('input', () => { clearTimeout(t); t = setTimeout(() => { groupFilter.q = search.value; groupFilter.page = 1; load(); }, 250); });
  setMain(h('div', { class: 'row' }, h('h1', { class: 'grow' }, 'Consumer groups'), h('button', { class: 'primary', onclick: () => groupForm(load) }, 'Create group')),
    h('div', { class: 'panel row' }, search, h('label', {}, sys, 'show system groups')), out);
  async function load() {
    out.textContent = ''; out.append(spinner());
    try {
      const p = await api('GET', '/groups?' + qs({ q: groupFilter.q, system: groupFilter.system, page: groupFilter.page, size: groupFilter.size }));
      out.textContent = '';
      out.append(failureNotes(p.failures) || '',
        h('table', { id: 'groups' }, h('thead', {}, h('tr', {}, h('th', {}, 'Group'), h('th', { class: 'num' }, 'Members'), h('th', { class: 'num' }, 'Consume TPS'), h('th', { class: 'num' }, 'Lag'), h('th', {}, 'Mode'), h('th', {}, 'Brokers'), h('th', {}, ''))),
          h('tbody', {}, p.items.length ? p.items.map((g) => h('tr', {},
            h('td', {}, link('/groups/' + encodeURIComponent(g.name), g.name), g.system ? h('span', { class: 'badge' }, 'system') : ''),
            h('td', { class: 'num' }, g.members == null ? h('span', { class: 'badge unknown' }, 'unknown') : g.members),
            h('td', { class: 'num' }, fmtTps(g.consumeTps)), h('td', { class: 'num' }, lagCell(g.lag)),
            h('td', {}, g.consumeOrderly ? 'orderly' : 'concurrent'), h('td', {}, g.brokers.join(', ')),
            h('td', {}, g.error ? h('span', { class: 'badge bad', title: g.error }, 'partial') : '')))
            : h('tr', {}, h('td', { colspan: 7, class: 'muted' }, 'No group matches.')))),
        pager(p, (n) => { groupFilter.page = n; load(); }));
    } catch (e) { out.textContent = ''; out.append(errorBox(e)); }
  }
  await load();
}
function groupForm(after) {
  const name = h('input', { id: 'gf-name', required: true });
  const retryQ = h('input', { type: 'number', value: 1, min: 0, max: 64 });
  const retryMax = h('input', { type: 'number', value: 16, min: -1, max: 64 });
  const bc = h('input', { type: 'checkbox', checked: true });
  const orderly = h('input', { type: 'checkbox' });
  const msg = h('div');
  modal(h('h2', {}, 'Create / update consumer group'), msg, h('form', { class: 'grid', onsubmit: (ev) => { ev.preventDefault(); write(async () => {
    try { const r = await api('POST', '/groups', { name: name.value.trim(), retryQueueNums: +retryQ.value, retryMaxTimes: +retryMax.value, consumeBroadcastEnable: bc.checked, consumeOrderly: orderly.checked }); showOpResults('Group saved', r); if (after) after(); } catch (e) { msg.textContent = ''; msg.append(errorBox(e)); }
  }); } }, h('label', {}, 'Name'), name, h('label', {}, 'Retry queues'), retryQ, h('label', {}, 'Max retries'), retryMax, h('label', {}, 'Allow broadcast'), bc, h('label', {}, 'Orderly'), orderly,
  h('span'), h('div', { class: 'row' }, h('button', { class: 'primary', type: 'submit' }, 'Save'), h('button', { type: 'button', onclick: closeModal }, 'Cancel'))));
  name.focus();
}
async function pageGroup(name) {
  const enc = encodeURIComponent(name);
  const body = h('div');
  setMain(link('/groups', '‹ Consumer groups'), h('div', { class: 'row' }, h('h1', { class: 'grow' }, 'Group ', h('span', { class: 'mono' }, name)),
    h('button', { class: 'danger', onclick: () => confirmDialog('Delete group', `Delete consumer group "${name}" and its offsets on every broker?`, 'Delete', () => write(async () => { try { showOpResults('Group deleted', await api('DELETE', '/groups/' + enc)); go('/groups'); } catch (e) { showError(e); } })) }, 'Delete')),
    tabs(['Progress', 'Members', 'Reset offset'], (t) => show(t)), body);
  async function show(t) {
    body.textContent = ''; body.append(spinner());
    try {
      if (t === 'Progress') {
        const p = await api('GET', `/groups/${enc}/progress`);
        body.textContent = '';
        body.append(failureNotes(p.failures) || '', h('p', {}, 'Total lag: ', lagCell(p.totalLag)),
          h('table', { id: 'group-progress' }, h('thead', {}, h('tr', {}, h('th', {}, 'Topic'), h('th', {}, 'Broker'), h('th', { class: 'num' }, 'Queue'), h('th', { class: 'num' }, 'Broker offset'), h('th', { class: 'num' }, 'Consumer offset'), h('th', { class: 'num' }, 'Lag'), h('th', {}, 'Client (expected)'), h('th', {}, 'Last consumed'))),
            h('tbody', {}, p.items.length ? p.items.map((q) => h('tr', {}, h('td', {}, q.topic), h('td', {}, q.brokerName), h('td', { class: 'num' }, q.queueId), h('td', { class: 'num' }, fmtInt(q.brokerOffset)),
              h('td', { class: 'num' }, q.consumerOffset == null ? h('span', { class: 'badge unknown', title: 'never committed' }, 'none') : fmtInt(q.consumerOffset)),
              h('td', { class: 'num' }, lagCell(q.lag)), h('td', { class: 'mono' }, q.client || '–'), h('td', {}, fmtTime(q.lastTimestamp))))
              : h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'This group has no queue with offsets.')))));
      } else if (t === 'Members') {
        const m = await api('GET', `/groups/${enc}/members`);
        body.textContent = '';
        body.append(h('div', { class: 'kv panel' }, h('div', {}, 'Consume type'), h('div', {}, m.consumeType || '–'), h('div', {}, 'Message model'), h('div', {}, m.messageModel || '–'), h('div', {}, 'Consume from'), h('div', {}, m.consumeFromWhere || '–')),
          h('h2', {}, `Online members (${m.members.length})`),
          h('table', { id: 'group-members' }, h('thead', {}, h('tr', {}, h('th', {}, 'Client id'), h('th', {}, 'Address'), h('th', {}, 'Language'), h('th', {}, 'Version'))),
            h('tbody', {}, m.members.length ? m.members.map((x) => h('tr', {}, h('td', { class: 'mono' }, x.clientId), h('td', { class: 'mono' }, x.clientAddr), h('td', {}, x.language), h('td', {}, x.version)))
              : h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'No consumer of this group is online.')))),
          h('h2', {}, 'Subscriptions'), h('table', {}, h('tbody', {}, m.subscriptions.map((s) => h('tr', {}, h('td', {}, s.topic), h('td', {}, s.expressionType || 'TAG'), h('td', { class: 'mono' }, s.expression))))));
      } else {
        const topic = h('input', { id: 'reset-topic', placeholder: 'all subscribed topics' });
        const when = h('input', { type: 'datetime-local', id: 'reset-time', step: 1 });
        const d = new Date(Date.now() - 3600e3); d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
        when.value = d.toISOString().slice(0, 19);
        const res = h('div');
        const ts = () => new Date(when.value).getTime();
        const preview = async () => {
          res.textContent = ''; res.append(spinner());
          try {
            const rows = await api('POST', `/groups/${enc}/reset/preview`, { topic: topic.value.trim(), timestamp: ts() });
            res.textContent = '';
            res.append(h('p', {}, `Preview: ${rows.length} queue(s) would move to the first message stored at or after ${new Date(ts()).toLocaleString()}.`),
              h('table', { id: 'reset-preview' }, h('thead', {}, h('tr', {}, h('th', {}, 'Topic'), h('th', {}, 'Broker'), h('th', { class: 'num' }, 'Queue'), h('th', { class: 'num' }, 'Current'), h('th', { class: 'num' }, 'New offset'), h('th', { class: 'num' }, 'Broker offset'))),
                h('tbody', {}, rows.map((r) => h('tr', {}, h('td', {}, r.topic), h('td', {}, r.brokerName), h('td', { class: 'num' }, r.queueId), h('td', { class: 'num' }, r.currentOffset == null ? 'none' : fmtInt(r.currentOffset)), h('td', { class: 'num' }, h('b', {}, fmtInt(r.targetOffset))), h('td', { class: 'num' }, fmtInt(r.brokerOffset)))))),
              h('p', {}, h('button', { class: 'danger solid', id: 'reset-apply', onclick: () => confirmDialog('Reset offsets', `Move ${rows.length} queue(s) of "${name}" as previewed?`, 'Reset', apply) }, 'Apply reset')));
          } catch (e) { res.textContent = ''; res.append(errorBox(e)); }
        };
        const apply = () => write(async () => {
          try { const r = await api('POST', `/groups/${enc}/reset/apply`, { topic: topic.value.trim(), timestamp: ts() }); showOpResults(`Offsets reset (${r.method})`, r.results); } catch (e) { showError(e); }
        });
        body.textContent = '';
        body.append(h('div', { class: 'panel' }, h('form', { class: 'grid', onsubmit: (ev) => { ev.preventDefault(); preview(); } }, h('label', {}, 'Topic'), topic, h('label', {}, 'Reset to time'), when, h('span'), h('button', { type: 'submit', class: 'primary', id: 'reset-preview-btn' }, 'Preview'))), res);
      }
    } catch (e) { body.textContent = ''; body.append(errorBox(e)); }
  }
}

// ---------- Messages ----------
function localInput(id, ms) {
  const d = new Date(ms); d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return h('input', { type: 'datetime-local', id, step: 1, value: d.toISOString().slice(0, 19) });
}
function messageTable(list, topicOf, opts) {
  opts = opts || {};
  const rows = list.messages.map((m) => h('tr', {},
    opts.select ? h('td', {}, h('input', { type: 'checkbox', class: 'msg-select', 'data-id': m.msgId })) : null,
    h('td', { class: 'mono' }, link(`/message/${encodeURIComponent(topicOf(m))}/${encodeURIComponent(m.msgId)}`, m.msgId)),
    h('td', {}, m.tags || '–'), h('td', {}, m.keys || '–'), h('td', {}, fmtTime(m.storeTimestamp)),
    h('td', {}, `${m.brokerName || '?'} / ${m.queueId} / ${m.queueOffset}`), h('td', { class: 'num' }, fmtInt(m.bodySize)), opts.extra ? opts.extra(m) : null));
  return h('div', {}, failureNotes(list.failures) || '',
    h('p', { class: 'muted' }, `${list.messages.length} message(s), newest first`, list.truncated ? ` — more exist: only ${list.limit} shown; narrow the range.` : '.'),
    h('table', { id: opts.id || 'messages' }, h('thead', {}, h('tr', {}, opts.select ? h('th', {}, '') : null, ['Message id', 'Tags', 'Keys', 'Stored', 'Broker / queue / offset'].map((x) => h('th', {}, x)), h('th', { class: 'num' }, 'Size'), opts.extraHead ? h('th', {}, opts.extraHead) : null)),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No message found (the query itself succeeded).')))));
}
async function pageMessages() {
  const body = h('div');
  setMain(h('h1', {}, 'Messages'), tabs(['By time range', 'By key', 'By message id'], (t) => show(t)), body);
  function show(t) {
    body.textContent = '';
    const topic = h('input', { id: 'mq-topic', placeholder: 'topic', required: true });
    const res = h('div');
    if (t === 'By time range') {
      const begin = localInput('mq-begin', Date.now() - 3600e3), end = localInput('mq-end', Date.now() + 60e3);
      body.append(h('form', { class: 'panel row', onsubmit: async (ev) => { ev.preventDefault(); res.textContent = ''; res.append(spinner());
        try { const l = await api('GET', '/messages/by-time?' + qs({ topic: topic.value.trim(), begin: new Date(begin.value).getTime(), end: new Date(end.value).getTime(), limit: 500 })); res.textContent = ''; res.append(messageTable(l, (m) => m.topic)); } catch (e) { res.textContent = ''; res.append(errorBox(e)); }
      } }, topic, 'from', begin, 'to', end, h('button', { class: 'primary', type: 'submit', id: 'mq-time-search' }, 'Search')), res);
    } else if (t === 'By key') {
      const key = h('input', { id: 'mq-key', placeholder: 'message key', required: true });
      body.append(h('form', { class: 'panel row', onsubmit: async (ev) => { ev.preventDefault(); res.textContent = ''; res.append(spinner());
        try { const l = await api('GET', '/messages/by-key?' + qs({ topic: topic.value.trim(), key: key.value.trim() })); res.textContent = ''; res.append(messageTable(l, (m) => m.topic, { id: 'key-results' })); } catch (e) { res.textContent = ''; res.append(errorBox(e)); }
      } }, topic, key, h('button', { class: 'primary', type: 'submit', id: 'mq-key-search' }, 'Search'), h('span', { class: 'muted' }, 'at most 64 results')), res);
    } else {
      const id = h('input', { id: 'mq-id', placeholder: 'message id (client id or offset id)', size: 40, required: true });
      body.append(h('form', { class: 'panel row', onsubmit: (ev) => { ev.preventDefault(); go(`/message/${encodeURIComponent(topic.value.trim())}/${encodeURIComponent(id.value.trim())}`); } }, topic, id, h('button', { class: 'primary', type: 'submit' }, 'Open')), res);
    }
    topic.focus();
  }
}
async function pageMessage(topic, id) {
  setMain(link('/messages', '‹ Messages'), h('h1', {}, 'Message ', h('span', { class: 'mono' }, id)), spinner());
  let d;
  try { d = await api('GET', '/messages/detail?' + qs({ topic, id })); } catch (e) { setMain(link('/messages', '‹ Messages'), h('h1', {}, 'Message ', h('span', { class: 'mono' }, id)), errorBox(e)); return; }
  const bodyPre = h('pre', { class: 'body', id: 'msg-body' }, d.bodyText != null ? d.bodyText : d.bodyHex);
  const mode = h('select', { onchange: () => { bodyPre.textContent = mode.value === 'text' ? (d.bodyText != null ? d.bodyText : '(body is not UTF-8 text)') : d.bodyHex.replace(/(..)/g, '$1 ').trim(); } }, h('option', { value: 'text' }, 'text'), h('option', { value: 'hex' }, 'hex'));
  if (d.bodyText == null) { mode.value = 'hex'; bodyPre.textContent = d.bodyHex.replace(/(..)/g, '$1 ').trim(); }
  const groupSel = h('select', { id: 'resend-group' }, d.consumedBy.map((c) => h('option', { value: c.group }, c.group)));
  const resendRes = h('div');
  setMain(link('/messages', '‹ Messages'), h('h1', {}, 'Message ', h('span', { class: 'mono' }, d.msgId)),
    h('div', { class: 'panel kv', id: 'msg-detail' },
      [['Topic', d.topic], ['Tags', d.tags || '–'], ['Keys', d.keys || '–'], ['Offset message id', d.offsetMsgId], ['Broker / queue / offset', `${d.brokerName || '?'} / ${d.queueId} / ${d.queueOffset}`],
        ['Stored at', fmtTime(d.storeTimestamp)], ['Store host', d.storeHost], ['Born at', fmtTime(d.bornTimestamp)], ['Born host', d.bornHost], ['Commit-log offset', fmtInt(d.commitLogOffset)], ['Reconsume times', d.reconsumeTimes], ['Body size', fmtInt(d.bodySize) + ' bytes']]
        .map(([k, v]) => [h('div', {}, k), h('div', { class: 'mono' }, v)])),
    h('h2', {}, 'Body ', mode), bodyPre,
    h('h2', {}, 'Properties'), h('table', { id: 'msg-props' }, h('tbody', {}, Object.entries(d.properties).map(([k, v]) => h('tr', {}, h('td', { class: 'mono' }, k), h('td', { class: 'mono' }, v))))),
    h('h2', {}, 'Consumed by'), h('table', { id: 'msg-consumed' }, h('tbody', {}, d.consumedBy.length ? d.consumedBy.map((c) => h('tr', {}, h('td', {}, c.group),
      h('td', {}, c.state === 'consumed' ? h('span', { class: 'badge ok' }, 'consumed') : c.state === 'notConsumed' ? h('span', { class: 'badge warn' }, 'not consumed yet') : h('span', { class: 'badge unknown', title: c.reason }, 'unknown: ' + c.reason))))
      : h('tr', {}, h('td', { class: 'muted' }, 'No group subscribes to this topic.')))),
    d.consumedBy.length ? h('div', { class: 'panel row' }, 'Resend to group', groupSel, h('button', { onclick: () => write(async () => {
      try { const r = await api('POST', '/messages/resend', { topic: d.topic, msgId: d.msgId, group: groupSel.value }); resendRes.textContent = ''; resendRes.append(h('div', { class: r.ok ? 'okbox' : 'error' }, r.ok ? `Resent to ${r.target}` : r.error)); } catch (e) { resendRes.textContent = ''; resendRes.append(errorBox(e)); }
    }) }, 'Resend'), resendRes) : '');
}

// ---------- DLQ ----------
async function pageDlq() {
  const group = h('input', { id: 'dlq-group', placeholder: 'consumer group', required: true });
  const res = h('div');
  setMain(h('h1', {}, 'Dead-letter queue'), h('p', { class: 'muted' }, 'Messages a group failed to consume too often land in %DLQ%<group>. Select some and resend them to their original topic.'),
    h('form', { class: 'panel row', onsubmit: (ev) => { ev.preventDefault(); load(); } }, group, h('button', { class: 'primary', type: 'submit', id: 'dlq-browse' }, 'Browse (last 3 days)')), res);
  async function load() {
    res.textContent = ''; res.append(spinner());
    const g = group.value.trim();
    try {
      const l = await api('GET', '/dlq?' + qs({ group: g }));
      const results = h('div');
      res.textContent = '';
      res.append(messageTable(l, () => '%DLQ%' + g, { select: true, id: 'dlq-messages' }),
        h('p', { class: 'row' }, h('button', { class: 'primary', id: 'dlq-resend', onclick: () => {
          const ids = [...res.querySelectorAll('.msg-select:checked')].map((c) => c.dataset.id);
          if (!ids.length) { results.textContent = 'Select at least one message.'; return; }
          write(async () => {
            try {
              const r = await api('POST', '/dlq/resend', { group: g, msgIds: ids });
              results.textContent = '';
              results.append(h('table', { id: 'dlq-results' }, h('thead', {}, h('tr', {}, h('th', {}, 'Message'), h('th', {}, 'Result'), h('th', {}, 'Target'), h('th', {}, 'New id'))),
                h('tbody', {}, r.map((x) => h('tr', {}, h('td', { class: 'mono' }, x.msgId), h('td', {}, x.ok ? h('span', { class: 'badge ok' }, 'resent') : h('span', { class: 'badge bad' }, x.error || 'failed')), h('td', {}, x.target || '–'), h('td', { class: 'mono' }, x.newMsgId || '–'))))));
            } catch (e) { results.textContent = ''; results.append(errorBox(e)); }
          });
        } }, 'Resend selected to original topic')), results);
    } catch (e) { res.textContent = ''; res.append(errorBox(e)); }
  }
}

// ---------- Producers ----------
async function pageProducers() {
  const group = h('input', { id: 'pg-group', placeholder: 'producer group', required: true });
  const topic = h('input', { id: 'pg-topic', placeholder: 'topic', required: true });
  const res = h('div');
  setMain(h('h1', {}, 'Producers'), h('form', { class: 'panel row', onsubmit: async (ev) => { ev.preventDefault(); res.textContent = ''; res.append(spinner());
    try {
      const p = await api('GET', '/producers?' + qs({ group: group.value.trim(), topic: topic.value.trim() }));
      res.textContent = '';
      res.append(failureNotes(p.failures) || '', h('table', { id: 'producers' }, h('thead', {}, h('tr', {}, ['Broker', 'Client id', 'Address', 'Language', 'Version'].map((x) => h('th', {}, x)))),
        h('tbody', {}, p.items.length ? p.items.map((c) => h('tr', {}, h('td', {}, c.broker), h('td', { class: 'mono' }, c.clientId), h('td', { class: 'mono' }, c.clientAddr), h('td', {}, c.language), h('td', {}, c.version)))
          : h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No producer of this group is connected.')))));
    } catch (e) { res.textContent = ''; res.append(errorBox(e)); }
  } }, group, topic, h('button', { class: 'primary', type: 'submit', id: 'pg-search' }, 'Show connections')), res);
}

// ---------- start ----------
loadSession().then(route);
