// SPDX-License-Identifier: Apache-2.0
// The live dashboard: loads one consistent snapshot (/api/snapshot, with the feed id it ends
// at), then applies the Server-Sent Events after that id from /api/stream, each once (an event
// whose id is not above the last applied one is a repeat and is dropped). When the stream
// drops, the indicator says "reconnecting" and the stream resumes after the last id.
'use strict';

(function () {
  const TICKER_MAX = 20;         // latest sales shown
  const ALERTS_MAX = 50;         // open alerts shown (the count says how many in all)
  const STORES_SHOWN = 50;       // store rows in the page; search narrows the rest
  const REFRESH_MS = 60000;      // figures re-read from the server (last seen, comparisons)
  const SILENT_MS = 40000;       // no event or ping for this long: the stream is dead
  const REOPEN_MS = 1500;

  const st = {
    role: 'viewer',
    lastId: 0,                   // the last event applied (or the snapshot's feed id)
    dayStart: 0,
    summary: null,
    stores: new Map(),           // store -> row
    storesTotal: 0,
    storesMatched: 0,
    ticker: [],
    alerts: [],
    openAlerts: 0,
    series: [],                  // [{minute (ms), count, amount}]
    chartStore: '',
    q: '',
    es: null,
    lastMsg: 0,
    reopenTimer: 0,
    topTimer: 0,
  };

  const $ = (id) => document.getElementById(id);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // Minor units to "1,234.56" with integers only.
  function money(minor) {
    const neg = minor < 0;
    let n = Math.abs(Math.trunc(minor));
    const cents = String(n % 100).padStart(2, '0');
    n = Math.trunc(n / 100);
    const whole = String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    return (neg ? '-' : '') + whole + '.' + cents;
  }

  function ago(iso) {
    if (!iso) return 'never';
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    if (s < 86400) return Math.floor(s / 3600) + ' h ago';
    return Math.floor(s / 86400) + ' d ago';
  }

  function clock(iso) {
    const d = new Date(iso);
    return isNaN(d) ? '' : d.toLocaleTimeString([], { hour12: false });
  }

  function delta(node, now, then) {
    node.className = 'delta';
    if (then === null || then === undefined) {
      node.textContent = 'no data a week ago';
      return;
    }
    if (then === 0) {
      node.textContent = now === 0 ? 'same as last week' : 'last week: 0';
      return;
    }
    const pct = Math.round(((now - then) * 1000) / Math.abs(then)) / 10;
    node.textContent = (pct >= 0 ? '▲ +' : '▼ ') + pct + '% vs last week';
    node.classList.add(pct >= 0 ? 'up' : 'down');
  }

  function setLive(state) {
    const n = $('live');
    if (n.dataset.state === state) return;
    n.dataset.state = state;
    n.textContent = state;
  }

  async function api(path, opts) {
    const r = await fetch(path, Object.assign({ credentials: 'same-origin' }, opts || {}));
    if (r.status === 401) {
      window.location.assign('/login');
      throw new Error('not logged in');
    }
    if (!r.ok) throw new Error(path + ': ' + r.status);
    return r.json();
  }

  // ---- rendering ----

  function renderKpis() {
    const s = st.summary;
    if (!s) return;
    $('k-amount').textContent = money(s.amount);
    $('k-count').textContent = String(s.count);
    $('k-avg').textContent = money(s.avg_basket);
    const lw = s.last_week;
    delta($('k-amount-lw'), s.amount, lw ? lw.amount : null);
    delta($('k-count-lw'), s.count, lw ? lw.count : null);
    delta($('k-avg-lw'), s.avg_basket, lw ? lw.avg_basket : null);
  }

  function saleItem(s, fresh) {
    const li = el('li', fresh ? 'new' : '');
    li.dataset.id = s.id;
    li.dataset.store = s.store;
    if (fresh) li.dataset.seenMs = String(Date.now());
    li.append(el('span', 'muted num', clock(s.ts)));
    li.append(el('strong', '', s.store));
    li.append(el('span', 'muted', s.reg));
    li.append(el('span', 'grow num', money(s.total) + (s.kind !== 'sale' ? ' (' + s.kind + ')'
      : '')));
    li.append(el('span', 'muted', (s.units || 0) + (s.units === 1 ? ' item' : ' items')));
    for (const f of s.flags || []) li.append(el('span', 'flag', f));
    return li;
  }

  function renderTicker(freshId) {
    const ul = $('ticker');
    const items = st.ticker.map((s) => saleItem(s, s.id === freshId || s._fresh));
    for (const s of st.ticker) s._fresh = false;
    ul.replaceChildren(...items);
    if (!items.length) ul.append(el('li', 'muted', 'No sales yet today.'));
  }

  function renderAlerts() {
    const ul = $('alerts');
    $('alerts-n').textContent = st.openAlerts ? String(st.openAlerts) : '';
    const items = st.alerts.slice(0, ALERTS_MAX).map((a) => {
      const li = el('li');
      li.dataset.id = a.id;
      li.dataset.kind = a.kind;
      li.append(el('span', 'badge ' + a.severity, a.kind.replace(/_/g, ' ')));
      li.append(el('strong', '', a.store));
      li.append(el('span', 'muted num', clock(a.ts)));
      li.append(el('span', 'detail', a.message + (a.sku ? ' · ' + a.sku : '') +
        (a.sales && a.sales.length ? ' · sales ' + a.sales.map((x) => x.slice(-8)).join(', ')
          : '')));
      if (st.role === 'admin') {
        const b = el('button', 'ack', 'Acknowledge');
        b.type = 'button';
        b.addEventListener('click', () => ackAlert(a.id, b));
        li.append(b);
      }
      return li;
    });
    ul.replaceChildren(...items);
    if (!items.length) ul.append(el('li', 'muted', 'No open alerts.'));
  }

  async function ackAlert(id, button) {
    button.disabled = true;
    try {
      await api('/api/alerts/' + encodeURIComponent(id) + '/ack', {
        method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}',
      });
    } catch (e) {
      button.disabled = false;
    }
  }

  function attention(r) {
    return (r.state || '') !== 'online' || r.missing_count > 0 || r.open_alerts > 0;
  }

  function storeItem(r) {
    const li = el('li', attention(r) ? 'attention' : '');
    const state = r.state || 'unknown';
    li.dataset.store = r.store;
    li.dataset.state = state;
    li.append(el('strong', '', r.store));
    li.append(el('span', 'badge ' + state, state.replace('_', ' ')));
    li.append(el('span', 'grow num', money(r.amount) + ' · ' + r.count + ' sales'));
    if (r.last_week_amount !== null && r.last_week_amount !== undefined) {
      const d = el('span', 'delta');
      delta(d, r.amount, r.last_week_amount);
      li.append(d);
    }
    const head = Math.max(r.store_head || 0, r.max_gw_seq || 0);
    const parts = ['HQ ' + r.hq_through + ' of ' + head];
    if (r.outbox !== null && r.outbox !== undefined) parts.push('outbox ' + r.outbox);
    parts.push('seen ' + ago(r.last_seen));
    if (r.open_alerts) parts.push(r.open_alerts + ' open alert' + (r.open_alerts > 1 ? 's' : ''));
    const d = el('span', 'detail', parts.join(' · '));
    if (r.missing_count > 0) {
      d.append(' · ');
      d.append(el('span', 'missing', r.missing_count + ' missing (' + r.missing + ')'));
    } else if (head > r.hq_through) {
      d.append(' · ' + (head - r.hq_through) + ' on the way');
    }
    li.append(d);
    return li;
  }

  function renderStores() {
    const q = st.q.toLowerCase();
    const rows = [...st.stores.values()].filter((r) => !q || r.store.includes(q));
    rows.sort((a, b) => (attention(b) - attention(a)) || (a.store < b.store ? -1 : 1));
    const shown = rows.slice(0, STORES_SHOWN);
    $('stores').replaceChildren(...shown.map(storeItem));
    const need = rows.filter(attention).length;
    $('stores-n').textContent = '(' + st.storesTotal + (need ? ', ' + need + ' need attention'
      : '') + ')';
    const hidden = Math.max(st.storesMatched, rows.length) - shown.length;
    $('stores-more').textContent = hidden > 0 ? hidden + ' more: search to narrow' : '';
    const sel = $('chart-store');
    const have = new Set([...sel.options].map((o) => o.value));
    for (const r of [...st.stores.values()].sort((a, b) => (a.store < b.store ? -1 : 1))) {
      if (!have.has(r.store) && sel.options.length < 200) sel.append(new Option(r.store, r.store));
    }
  }

  function renderTop(top) {
    const fill = (ol, rows, key) => {
      ol.replaceChildren(...rows.map((r) => {
        const li = el('li');
        li.append(el('span', '', r.name || r.sku));
        li.append(' ');
        const v = key === 'revenue' ? money(r.revenue) : r.units + ' units';
        li.append(el('span', 'muted num', v));
        return li;
      }));
      if (!rows.length) ol.append(el('li', 'muted', 'Nothing sold yet today.'));
    };
    fill($('top-rev'), top.by_revenue, 'revenue');
    fill($('top-units'), top.by_units, 'units');
  }

  // The per-minute bars, drawn on the canvas at the screen's pixel density.
  function drawChart() {
    const c = $('chart');
    const dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (!w || !h) return;
    c.width = Math.round(w * dpr);
    c.height = Math.round(h * dpr);
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const data = st.series;
    const max = Math.max(1, ...data.map((d) => d.count));
    const left = 28, bottom = 18, top = 8;
    const ch = h - bottom - top, cw = w - left - 4;
    g.strokeStyle = '#dde3e9';
    g.fillStyle = '#5d6d7e';
    g.font = '10px system-ui, sans-serif';
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (const v of [0, Math.ceil(max / 2), max]) {
      const y = top + ch - (v / max) * ch;
      g.beginPath();
      g.moveTo(left, y);
      g.lineTo(w, y);
      g.stroke();
      g.fillText(String(v), left - 4, y);
    }
    const bw = cw / Math.max(1, data.length);
    g.fillStyle = '#0b5cad';
    data.forEach((d, i) => {
      const bh = (d.count / max) * ch;
      g.fillRect(left + i * bw + 1, top + ch - bh, Math.max(1, bw - 2), bh);
    });
    g.fillStyle = '#5d6d7e';
    g.textAlign = 'center';
    g.textBaseline = 'top';
    data.forEach((d, i) => {
      if (i % 15 === 0 || i === data.length - 1) {
        const t = new Date(d.minute);
        const x = Math.min(left + i * bw + bw / 2, w - 16); // the last label stays inside
        g.fillText(t.toTimeString().slice(0, 5), x, top + ch + 4);
      }
    });
    const total = data.reduce((a, d) => a + d.count, 0);
    $('chart-note').textContent = total + ' sales in the last hour' +
      (st.chartStore ? ' at ' + st.chartStore : ' across the chain');
  }

  let drawPending = false;
  function scheduleDraw() {
    if (drawPending) return;
    drawPending = true;
    requestAnimationFrame(() => { drawPending = false; drawChart(); });
  }

  // Keeps 60 minute buckets ending at the current minute.
  function rollSeries() {
    const now = Math.floor(Date.now() / 60000) * 60000;
    const last = st.series.length ? st.series[st.series.length - 1].minute : now - 60000;
    for (let m = last + 60000; m <= now; m += 60000) {
      st.series.push({ minute: m, count: 0, amount: 0 });
    }
    while (st.series.length > 60) st.series.shift();
  }

  // ---- state from the server ----

  function applySnapshot(s) {
    st.lastId = s.feed_id;
    st.summary = s.summary;
    st.dayStart = Date.parse(s.summary.day_start);
    st.storesTotal = s.stores.total;
    st.storesMatched = s.stores.matched;
    st.stores = new Map(s.stores.stores.map((r) => [r.store, r]));
    st.ticker = s.sales.slice(0, TICKER_MAX);
    st.alerts = s.alerts.alerts;
    st.openAlerts = s.alerts.open;
    st.series = s.series.map((d) => ({ minute: Date.parse(d.minute), count: d.count,
      amount: d.amount }));
    rollSeries();
    renderKpis();
    renderTicker(null);
    renderAlerts();
    renderStores();
    renderTop(s.top);
    scheduleDraw();
  }

  function snapshotPath() {
    const p = new URLSearchParams();
    if (st.chartStore) p.set('store', st.chartStore);
    if (st.q) p.set('q', st.q);
    p.set('limit', '200');
    return '/api/snapshot?' + p.toString();
  }

  // A refresh replaces the figures only when it is not older than what the stream applied;
  // the stream then skips the events the snapshot already holds.
  async function refresh(force) {
    const s = await api(snapshotPath());
    if (!force && s.feed_id < st.lastId) return false;
    const behind = s.feed_id < st.lastId;
    applySnapshot(s);
    // Older than what the stream applied: replay the stream from the snapshot's end.
    if (behind && st.es) openStream();
    return true;
  }

  function onSale(s) {
    st.ticker.unshift(Object.assign({ _fresh: true }, s));
    st.ticker.length = Math.min(st.ticker.length, TICKER_MAX);
    const t = Date.parse(s.ts);
    const today = t >= st.dayStart;
    if (today && st.summary && (!st.chartStore || st.chartStore === s.store)) {
      const sum = st.summary;
      const sold = sum.avg_basket * sum.count;
      sum.amount += s.total;
      if (s.kind === 'sale') {
        sum.count += 1;
        sum.avg_basket = Math.round((sold + s.total) / sum.count);
      }
      sum.units += s.units;
    }
    const r = st.stores.get(s.store);
    if (r && today) {
      r.amount += s.total;
      if (s.kind === 'sale') r.count += 1;
    }
    rollSeries();
    const m = Math.floor(t / 60000) * 60000;
    const b = st.series.find((d) => d.minute === m);
    if (b && (!st.chartStore || st.chartStore === s.store) && s.kind === 'sale') {
      b.count += 1;
      b.amount += s.total;
    }
    renderTicker(s.id);
    renderKpis();
    renderStores();
    scheduleDraw();
    // Top products are a ranking over every line of the day: re-read, at most every 3 s.
    if (!st.topTimer) {
      st.topTimer = setTimeout(async () => {
        st.topTimer = 0;
        const p = st.chartStore ? '?store=' + encodeURIComponent(st.chartStore) : '';
        try { renderTop(await api('/api/top' + p)); } catch (e) { /* next sale retries */ }
      }, 3000);
    }
  }

  function onStore(s) {
    const r = st.stores.get(s.store) || { store: s.store, amount: 0, count: 0, open_alerts: 0,
      missing_count: 0, missing: '' };
    Object.assign(r, s);
    r.store_head = Math.max(r.max_gw_seq || 0, (r.delivered || 0) + (r.outbox || 0));
    if (r.hq_through >= r.max_gw_seq) {
      r.missing_count = 0;
      r.missing = '';
    }
    if (!st.stores.has(s.store)) st.storesTotal += 1;
    st.stores.set(s.store, r);
    renderStores();
  }

  function onAlert(a) {
    if (st.alerts.some((x) => x.id === a.id)) return;
    st.alerts.unshift(a);
    st.alerts.sort((x, y) => (x.ts < y.ts ? 1 : x.ts > y.ts ? -1 : 0));
    st.alerts.length = Math.min(st.alerts.length, ALERTS_MAX);
    st.openAlerts += 1;
    const r = st.stores.get(a.store);
    if (r) r.open_alerts = (r.open_alerts || 0) + 1;
    renderAlerts();
    renderStores();
  }

  function onAlertAck(k) {
    const a = st.alerts.find((x) => x.id === k.id);
    st.alerts = st.alerts.filter((x) => x.id !== k.id);
    st.openAlerts = Math.max(0, st.openAlerts - 1);
    const r = a && st.stores.get(a.store);
    if (r) r.open_alerts = Math.max(0, (r.open_alerts || 0) - 1);
    renderAlerts();
    renderStores();
  }

  // ---- the stream ----

  const handlers = { sale: onSale, store: onStore, alert: onAlert, alert_ack: onAlertAck };

  function openStream() {
    closeStream();
    const es = new EventSource('/api/stream?after=' + encodeURIComponent(st.lastId));
    st.es = es;
    st.lastMsg = Date.now();
    es.onopen = () => { st.lastMsg = Date.now(); setLive('live'); };
    es.onerror = () => {
      setLive('reconnecting');
      // The browser retries by itself (with Last-Event-ID) unless it gave up.
      if (es.readyState === EventSource.CLOSED) scheduleReopen();
    };
    for (const kind of Object.keys(handlers)) {
      es.addEventListener(kind, (e) => {
        st.lastMsg = Date.now();
        const id = Number(e.lastEventId);
        if (!(id > st.lastId)) return; // a repeat, or already in the snapshot
        st.lastId = id;
        let body;
        try { body = JSON.parse(e.data); } catch (err) { return; }
        handlers[kind](body);
      });
    }
    es.addEventListener('ping', () => { st.lastMsg = Date.now(); setLive('live'); });
    // The server no longer holds what we missed: start again from a snapshot.
    es.addEventListener('reset', () => {
      closeStream();
      setLive('reconnecting');
      refresh(true).then(openStream, scheduleReopen);
    });
  }

  function closeStream() {
    if (st.es) st.es.close();
    st.es = null;
  }

  function scheduleReopen() {
    if (st.reopenTimer) return;
    st.reopenTimer = setTimeout(() => {
      st.reopenTimer = 0;
      openStream();
    }, REOPEN_MS);
  }

  function watchdog() {
    if (st.es && Date.now() - st.lastMsg > SILENT_MS) {
      setLive('reconnecting');
      closeStream();
      scheduleReopen();
    }
  }

  // ---- start ----

  async function start() {
    try {
      const me = await api('/api/me');
      st.role = me.role;
      $('tenant').textContent = me.tenant;
      await refresh(true);
    } catch (e) {
      setLive('reconnecting');
      setTimeout(start, 3000);
      return;
    }
    openStream();
    setInterval(watchdog, 5000);
    setInterval(() => { refresh(false).catch(() => {}); }, REFRESH_MS);
    setInterval(() => { rollSeries(); scheduleDraw(); }, 10000);
    window.addEventListener('resize', scheduleDraw);
    $('chart-store').addEventListener('change', (e) => {
      st.chartStore = e.target.value;
      refresh(true).catch(() => {});
    });
    let qTimer = 0;
    $('store-q').addEventListener('input', (e) => {
      st.q = e.target.value.trim().toLowerCase();
      renderStores();
      clearTimeout(qTimer);
      qTimer = setTimeout(() => { refresh(true).catch(() => {}); }, 400);
    });
  }

  document.addEventListener('DOMContentLoaded', start);
})();
