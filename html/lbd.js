/*
 * lbd.js - the status page: polls /status.json once a second, shows pools,
 * backends, rates, latency quantiles, a traffic chart per pool and the
 * event feed, and sends operators' changes to the admin API (/api/...).
 *
 * The DOM hooks the browser test relies on are listed in doc/STATUS.md;
 * rows and sections are updated in place, keyed by pool and backend id, so
 * that a weight being typed keeps its focus and its text across polls.
 *
 * Counters in status.json are cumulative: every rate and quantile here is
 * computed from the difference between two consecutive polls, over the
 * server's clock (now_ms), so a late poll does not inflate a rate.
 */
'use strict';

const POLL_MS = 1000;            /* one poll a second, never two at once */
const POLL_TIMEOUT_MS = 4000;    /* a poll slower than this has failed */
const HISTORY_S = 300;           /* the chart's span: 5 minutes */
const QUANTILE_WINDOW = 10;      /* histogram deltas kept: about 10 s */
const MIN_DT_S = 0.5;            /* a shorter interval (a poll right after a change) is noise */
const GAP_MS = 2500;             /* a chart line breaks over a longer gap */
const FLASH_MS = 2400;           /* how long a change stays highlighted */
const SERIES_COLOURS = 8;        /* --series-0..7 in lbd.css */
const TOKEN_KEY = 'lbd.token';

/* ---------------------------------------------------------------- helpers */

const $ = (sel, root = document) => root.querySelector(sel);

/* A new element: h('span', {className: 'x'}, child...); strings become text. */
function h(tag, props, ...children) {
    const el = Object.assign(document.createElement(tag), props);
    el.append(...children);
    return el;
}

/* Set text only when it changed: cheap, and no needless layout work. */
function setText(el, text) {
    if (el.textContent !== text)
        el.textContent = text;
}

/* A class on el for FLASH_MS: the highlight of a change (see lbd.css). */
function flash(el, cls = 'flash') {
    el.classList.remove(cls);
    void el.offsetWidth;                 /* restart the animation */
    el.classList.add(cls);
    clearTimeout(el.lbdFlash);
    el.lbdFlash = setTimeout(() => el.classList.remove(cls), FLASH_MS);
}

function fmtRate(r) {
    if (r == null || !isFinite(r)) return '–';
    if (r === 0) return '0';
    if (r < 10) return r.toFixed(1);
    return Math.round(r).toLocaleString('en-US');
}

function fmtMs(ms) {
    if (ms == null || !isFinite(ms)) return '–';
    if (ms < 1) return ms.toFixed(2) + ' ms';
    if (ms < 10) return ms.toFixed(1) + ' ms';
    if (ms < 1000) return Math.round(ms) + ' ms';
    /* The last finite bucket ends at 10 s: a quantile past it is only known to be more. */
    if (ms >= 10000) return '> 10 s';
    return (ms / 1000).toFixed(2) + ' s';
}

function fmtPct(frac) {
    if (frac == null || !isFinite(frac)) return '–';
    if (frac === 0) return '0%';
    const p = frac * 100;
    return (p < 0.1 ? '<0.1' : p < 10 ? p.toFixed(1) : Math.round(p)) + '%';
}

const fmtClock = (date) => date.toLocaleTimeString('en-GB', { hour12: false });

/* "weight=2 state=up source=api" (an event's old/new for add/remove) to an object. */
function parseDesc(s) {
    const o = {};
    for (const kv of (s || '').split(' ')) {
        const i = kv.indexOf('=');
        if (i > 0) o[kv.slice(0, i)] = kv.slice(i + 1);
    }
    return o;
}

/* The registry's state names as people say them. */
const STATE_WORDS = { up: 'up', drain: 'draining', disabled: 'disabled' };

/* ------------------------------------------------------- computed numbers */

/*
 * Per backend, keyed "pool\0id": the previous poll's counters, the last
 * histogram deltas, and the figures the table shows.  A counter that went
 * backwards (lbd restarted, or the id's slot was reused) drops the history:
 * the next poll starts again from a new baseline.
 */
const tracks = new Map();

/* Quantile q (0..1) of a histogram (non-cumulative counts, last = +Inf),
 * interpolated linearly inside its bucket; null when it has no sample. */
function quantile(counts, bounds, q) {
    let total = 0;
    for (const c of counts) total += c;
    if (total === 0) return null;
    const rank = q * total;
    let seen = 0;
    for (let i = 0; i < counts.length; i++) {
        if (counts[i] > 0 && seen + counts[i] >= rank) {
            const lo = i === 0 ? 0 : bounds[i - 1];
            const hi = i < bounds.length ? bounds[i] : bounds[bounds.length - 1];
            return lo + (hi - lo) * Math.max(0, rank - seen) / counts[i];
        }
        seen += counts[i];
    }
    return bounds[bounds.length - 1];
}

/* Which counter and histogram a pool's figures come from (STATUS.md). */
function poolUnit(pool) {
    return pool.mode === 'http'
        ? { counter: 'requests', hist: 'total', label: 'Req/s', long: 'requests per second' }
        : { counter: 'connections', hist: 'connect', label: 'Conn/s', long: 'connections per second' };
}

const errorTotal = (b) => Object.values(b.errors || {}).reduce((a, n) => a + n, 0);

/* Update b's track from this poll; returns its figures for the table. */
function compute(pool, b, nowMs, bounds) {
    const unit = poolUnit(pool);
    const key = pool.name + '\0' + b.id;
    const hist = (b.latency && b.latency[unit.hist]) || { counts: [] };
    const cur = { t: nowMs, n: b[unit.counter] || 0, err: errorTotal(b),
                  errors: { ...b.errors }, counts: hist.counts.slice() };
    let tr = tracks.get(key);
    if (!tr) {
        tr = { prev: null, window: [], rate: null, errRate: null, errDelta: null };
        tracks.set(key, tr);
    }
    tr.seen = nowMs;
    const p = tr.prev;
    const dt = p ? (cur.t - p.t) / 1000 : 0;
    if (p && dt < MIN_DT_S)
        return tr.figures;                   /* keep the baseline for the next poll */
    if (p) {
        const dn = cur.n - p.n, de = cur.err - p.err;
        const dc = cur.counts.map((c, i) => c - (p.counts[i] || 0));
        if (dn < 0 || de < 0 || dc.some((c) => c < 0)) {
            tr.window = [];                  /* counters reset: a new baseline */
            tr.rate = tr.errRate = null;
        } else {
            tr.rate = dn / dt;
            /* No traffic, no rate; connect errors may outnumber requests. */
            tr.errRate = dn > 0 ? Math.min(1, de / dn) : (de > 0 ? 1 : null);
            tr.errDelta = {};
            for (const k of Object.keys(cur.errors))
                tr.errDelta[k] = cur.errors[k] - ((p.errors || {})[k] || 0);
            tr.window.push(dc);
            if (tr.window.length > QUANTILE_WINDOW) tr.window.shift();
        }
    }
    tr.prev = cur;

    /* The window's histogram; the server's lifetime figures when it is empty. */
    const sum = new Array(cur.counts.length).fill(0);
    for (const d of tr.window) d.forEach((c, i) => { sum[i] += c; });
    let p50 = quantile(sum, bounds, 0.5), p99 = quantile(sum, bounds, 0.99), lifetime = false;
    if (p50 == null) {
        p50 = b.p50_ms; p99 = b.p99_ms;
        lifetime = p50 != null;
    }
    tr.figures = { rate: tr.rate, errRate: tr.errRate, errDelta: tr.errDelta, p50, p99, lifetime };
    return tr.figures;
}

/* -------------------------------------------------------------- the chart */

/*
 * Per pool: samples of every backend's rate, one per poll, HISTORY_S long,
 * and markers where the strategy changed, so a switch shows in the shape.
 * Each backend keeps its colour for as long as the page lives.
 */
const charts = new Map();   /* pool name -> { samples, markers, colours, strategy } */

function colourOf(c, id) {
    if (!c.colours.has(id)) {
        /* The first free colour; past SERIES_COLOURS backends they repeat. */
        const used = new Set(c.colours.values());
        let i = 0;
        while (i < SERIES_COLOURS && used.has(i)) i++;
        c.colours.set(id, i < SERIES_COLOURS ? i : c.colours.size % SERIES_COLOURS);
    }
    return c.colours.get(id);
}

function chartRecord(pool, nowMs, figuresById) {
    let c = charts.get(pool.name);
    if (!c) {
        c = { samples: [], markers: [], colours: new Map(), strategy: pool.strategy };
        charts.set(pool.name, c);
    }
    if (pool.strategy !== c.strategy) {
        c.markers.push({ t: nowMs, label: pool.strategy });
        c.strategy = pool.strategy;
    }
    const rates = new Map();
    for (const [id, f] of figuresById)
        if (f && f.rate != null) rates.set(id, f.rate);
    c.samples.push({ t: nowMs, rates });
    const oldest = nowMs - HISTORY_S * 1000;
    while (c.samples.length && c.samples[0].t < oldest) c.samples.shift();
    while (c.markers.length && c.markers[0].t < oldest) c.markers.shift();
    /* Colours of backends gone from the pool are free again. */
    const ids = new Set(pool.backends.map((b) => b.id));
    for (const id of c.colours.keys()) if (!ids.has(id)) c.colours.delete(id);
}

/* A round grid step (1, 2 or 5 times a power of ten) giving 3 to 5 lines up to v. */
function niceStep(v) {
    if (!(v > 0)) return 0.25;
    const raw = v / 4, p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
    return 10 * p;
}

function drawChart(canvas, pool, nowMs) {
    const c = charts.get(pool.name);
    const box = canvas.parentElement;
    const cssW = box.clientWidth, cssH = box.clientHeight;
    if (!c || cssW === 0 || cssH === 0) return;
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(cssW * dpr), h = Math.round(cssH * dpr);
    if (canvas.width !== w || canvas.height !== h) {
        canvas.width = w;
        canvas.height = h;
    }
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, cssW, cssH);

    const css = getComputedStyle(canvas);
    const colour = (name) => css.getPropertyValue(name).trim() || '#888';
    const font = '11px ' + (css.fontFamily || 'sans-serif');
    const pad = { l: 44, r: 10, t: 10, b: 20 };
    const pw = cssW - pad.l - pad.r, ph = cssH - pad.t - pad.b;
    const t1 = nowMs, t0 = nowMs - HISTORY_S * 1000;
    const x = (t) => pad.l + (t - t0) / (t1 - t0) * pw;

    let max = 0;
    for (const s of c.samples) for (const r of s.rates.values()) if (r > max) max = r;
    const step = niceStep(max * 1.05), lines = Math.max(1, Math.ceil(max * 1.05 / step));
    const ymax = step * lines;
    const y = (v) => pad.t + ph - v / ymax * ph;

    /* Grid and axes: a line a step, a tick a minute. */
    g.font = font;
    g.lineWidth = 1;
    g.strokeStyle = colour('--grid');
    g.fillStyle = colour('--muted');
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let i = 0; i <= lines; i++) {
        const v = step * i, yy = Math.round(y(v)) + 0.5;
        g.beginPath(); g.moveTo(pad.l, yy); g.lineTo(pad.l + pw, yy); g.stroke();
        g.fillText(fmtRate(v), pad.l - 6, yy);
    }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    for (let m = 0; m <= HISTORY_S / 60; m++) {
        const xx = Math.round(x(t1 - m * 60000)) + 0.5;
        g.beginPath(); g.moveTo(xx, pad.t + ph); g.lineTo(xx, pad.t + ph + 4); g.stroke();
        g.textAlign = m === 0 ? 'right' : 'center';
        g.fillText(m === 0 ? 'now' : '−' + m + ' min', xx, pad.t + ph + 6);
    }

    /* Strategy switches: a dashed line and the new strategy's name. */
    g.setLineDash([3, 3]);
    g.strokeStyle = colour('--muted');
    g.textAlign = 'left';
    for (const mk of c.markers) {
        const xx = Math.round(x(mk.t)) + 0.5;
        g.beginPath(); g.moveTo(xx, pad.t); g.lineTo(xx, pad.t + ph); g.stroke();
        g.fillText(mk.label, Math.min(xx + 4, pad.l + pw - 60), pad.t + 2);
    }
    g.setLineDash([]);

    /* One line per backend; a gap in the polls is a gap in the line. */
    g.lineWidth = 1.75;
    g.lineJoin = 'round';
    for (const b of pool.backends) {
        g.strokeStyle = colour('--series-' + colourOf(c, b.id));
        g.beginPath();
        let last = null;
        for (const s of c.samples) {
            const r = s.rates.get(b.id);
            if (r == null) { last = null; continue; }
            const px = x(s.t), py = y(r);
            if (last == null || s.t - last > GAP_MS) g.moveTo(px, py); else g.lineTo(px, py);
            last = s.t;
        }
        g.stroke();
    }
}

/* ------------------------------------------------------------- rendering */

let lastDoc = null;         /* the last status.json that arrived */
let maxEventId = null;      /* the newest event seen; null before the first poll */
let poolSerial = 0;         /* for unique element ids (pool names may be anything) */
const poolViews = new Map();  /* pool name -> { section, tbody, select, canvas, ... } */

function renderHeader(doc) {
    setText($('#version'), doc.version ? 'v' + doc.version : '');
    const genEl = $('#generation');
    if (genEl.textContent !== String(doc.generation) && genEl.textContent !== '–') flash(genEl);
    setText(genEl, String(doc.generation));
    const wk = doc.worker || {};
    setText($('#answered'), 'worker ' + wk.slot + ' (pid ' + wk.pid + ')');
    document.body.dataset.generation = String(doc.generation);
    const up = $('#updated'), now = new Date();
    up.dateTime = now.toISOString();
    setText(up, fmtClock(now));

    /* A worker behind the current generation shows it (a reload under way). */
    $('#workers').replaceChildren(...(doc.workers || []).map((w) => {
        const lag = w.generation !== doc.generation ? ' · gen ' + w.generation : '';
        return h('li', {
            className: 'chip' + (w.slot === wk.slot ? ' current' : '') + (lag ? ' warn' : ''),
            textContent: '#' + w.slot + ' pid ' + w.pid + ' · ' + w.active + ' active' + lag,
            title: 'slot ' + w.slot + ', pid ' + w.pid + ', generation ' + w.generation + ', ' +
                   w.active + ' client connections open' +
                   (w.slot === wk.slot ? ' (answered this poll)' : ''),
        });
    }));
    $('#services').replaceChildren(...(doc.services || []).map((sv) => h('li',
        { className: 'chip', textContent: sv.name + ' · ' + sv.mode + ' · ' + sv.listen + ' → ' + sv.pool })));
}

/* The section of a pool, made from #pool-template the first time. */
function poolView(pool) {
    let v = poolViews.get(pool.name);
    if (v) return v;
    const section = $('#pool-template').content.firstElementChild.cloneNode(true);
    const n = ++poolSerial;
    section.dataset.pool = pool.name;
    section.setAttribute('aria-labelledby', 'pool-' + n);
    const h2 = $('.pool-name', section);
    h2.id = 'pool-' + n;
    h2.textContent = pool.name;
    const select = $('select.strategy', section);
    select.dataset.pool = pool.name;
    const form = $('form.add-backend', section);
    form.dataset.pool = pool.name;
    form.setAttribute('aria-label', 'Add a backend to pool ' + pool.name);
    setText($('caption', section), 'Backends of pool ' + pool.name);
    v = { section, select, form, tbody: $('tbody', section), canvas: $('canvas', section),
          legend: $('.legend', section), rows: new Map(), strategyBusy: false, strategyWant: null };
    new ResizeObserver(() => { if (lastDoc) drawChart(v.canvas, v.pool, lastDoc.now_ms); })
        .observe($('.chart-box', section));
    poolViews.set(pool.name, v);
    return v;
}

function renderPools(doc) {
    const container = $('#pools');
    $('.placeholder', container)?.remove();
    const names = new Set(doc.pools.map((p) => p.name));
    for (const [name, v] of poolViews) {
        if (!names.has(name)) {
            v.section.remove();
            poolViews.delete(name);
            charts.delete(name);
        }
    }
    let prev = null;
    for (const pool of doc.pools) {
        const v = poolView(pool);
        renderPool(v, pool, doc);
        /* Keep the server's order (by name), moving nodes only when needed. */
        const want = prev ? prev.nextElementSibling : container.firstElementChild;
        if (want !== v.section) container.insertBefore(v.section, want);
        prev = v.section;
    }
    /* Forget tracks of backends that are gone. */
    for (const [key, tr] of tracks) if (tr.seen !== doc.now_ms) tracks.delete(key);
}

function renderPool(v, pool, doc) {
    v.pool = pool;
    const unit = poolUnit(pool);
    const s = v.section;
    setText($('.pool-mode', s), pool.mode);
    $('.pool-mode', s).title = pool.mode === 'none' ? 'no service uses this pool' : pool.mode + ' pool';
    setText($('.col-rate', s), unit.label);

    /* The strategy: options as lbd has them; the value unless a change is under way. */
    const sel = v.select;
    const opts = [...sel.options].map((o) => o.value).join('\n');
    if (opts !== doc.strategies.join('\n'))
        sel.replaceChildren(...doc.strategies.map((n) => new Option(n, n)));
    if (!v.strategyBusy && sel.value !== pool.strategy) {
        if (sel.dataset.server) flash(sel.closest('.pool-head'));
        sel.value = pool.strategy;
    }
    sel.dataset.server = pool.strategy;

    const figures = new Map();
    let total = 0, up = 0;
    let prevRow = null;
    const ids = new Set();
    for (const b of pool.backends) {
        ids.add(b.id);
        const f = compute(pool, b, doc.now_ms, doc.latency_buckets_ms);
        figures.set(b.id, f);
        if (f && f.rate != null) total += f.rate;
        if (b.status === 'up') up++;
        const row = renderRow(v, pool, b, f, unit);
        const want = prevRow ? prevRow.nextElementSibling : v.tbody.firstElementChild;
        if (want !== row) v.tbody.insertBefore(row, want);
        prevRow = row;
    }
    for (const [id, row] of v.rows) {
        if (!ids.has(id)) { row.remove(); v.rows.delete(id); }
    }
    $('.empty-pool', s).hidden = pool.backends.length > 0;

    const users = (doc.services || []).filter((sv) => sv.pool === pool.name).map((sv) => sv.name);
    setText($('.pool-summary', s),
        pool.backends.length + ' backend' + (pool.backends.length === 1 ? '' : 's') + ' · ' +
        up + ' up · ' + fmtRate(total) + ' ' + unit.label.toLowerCase() +
        (users.length ? ' · service ' + users.join(', ') : ' · no service'));

    chartRecord(pool, doc.now_ms, figures);
    renderLegend(v, pool, figures, unit);
    setText($('.chart-title', s), unit.long[0].toUpperCase() + unit.long.slice(1) +
            ' per backend, last ' + HISTORY_S / 60 + ' minutes');
    drawChart(v.canvas, pool, doc.now_ms);
}

/* The legend doubles as the chart's text alternative: address and current rate. */
function renderLegend(v, pool, figures, unit) {
    const c = charts.get(pool.name);
    v.legend.replaceChildren(...pool.backends.map((b) => {
        const f = figures.get(b.id);
        return h('li', {}, h('span', { className: 'swatch series-' + colourOf(c, b.id) }),
                 b.address + ' ', h('span', { className: 'muted',
                     textContent: fmtRate(f && f.rate) + ' ' + unit.label.toLowerCase() }));
    }));
    const summary = pool.backends.map((b) => {
        const f = figures.get(b.id);
        return b.address + ' ' + fmtRate(f && f.rate);
    }).join(', ');
    v.canvas.setAttribute('aria-label', 'Chart of ' + unit.long + ' per backend of pool ' +
        pool.name + ' over the last ' + HISTORY_S / 60 + ' minutes, strategy ' + pool.strategy +
        '. Now: ' + (summary || 'no backends') + '.');
}

const WHY = { up: '', disabled: 'by operator', draining: 'by operator' };

function renderRow(v, pool, b, f, unit) {
    let row = v.rows.get(b.id);
    const fresh = !row;
    if (fresh) {
        row = $('#row-template').content.firstElementChild.cloneNode(true);
        row.dataset.pool = pool.name;
        row.dataset.id = String(b.id);
        for (const btn of row.querySelectorAll('button[data-action]'))
            btn.setAttribute('aria-label', btn.textContent + ' ' + b.address);
        $('input[data-action="weight"]', row).setAttribute('aria-label', 'Weight of ' + b.address);
        v.rows.set(b.id, row);
        if (maxEventId != null) flash(row, 'flash-new');   /* added while we watched */
    }
    row.dataset.backend = b.address;
    row.dataset.state = b.state;
    setText($('.address', row), b.address);
    setText($('.id', row), '#' + b.id);

    /* Status: text and colour (the badge), and why, when it is not obvious. */
    if (row.dataset.status !== b.status) {
        if (!fresh) flash(row);
        row.dataset.status = b.status;
    }
    const badge = $('.badge', row);
    setText(badge, b.status);
    badge.className = 'badge status-' + b.status;
    let why = WHY[b.status] || '';
    if (b.status === 'down') why = b.ejected ? 'ejected (failing)' : 'health check';
    else if (b.status === 'up' && b.health === 'unknown') why = 'not checked';
    setText($('.why', row), why);
    badge.title = 'state ' + b.state + ', health ' + b.health + (b.ejected ? ', ejected' : '');

    /* The weight: the server's value unless the operator is editing it. */
    const input = $('input[data-action="weight"]', row);
    const server = String(b.weight);
    if (input.dataset.server !== server) {
        const edited = input.dataset.server != null && input.value !== input.dataset.server;
        if (!edited) input.value = server;          /* same text: focus and caret stay */
        if (input.dataset.server != null) flash(input, 'flash-cell');
        input.dataset.server = server;
    }

    setText($('.active', row), String(b.active));
    const rate = $('.rate', row);
    setText(rate, fmtRate(f && f.rate));
    rate.dataset.label = unit.label;
    const err = $('.errors', row);
    setText(err, fmtPct(f && f.errRate));
    err.classList.toggle('warn', !!f && f.errRate > 0.01 && f.errRate <= 0.05);
    err.classList.toggle('bad', !!f && f.errRate > 0.05);
    err.title = f && f.errDelta
        ? 'last second: ' + Object.entries(f.errDelta).map(([k, n]) => k + ' ' + n).join(', ')
        : 'errors / ' + unit.counter + ' between the last two polls';
    for (const q of ['p50', 'p99']) {
        const cell = $('.' + q, row);
        setText(cell, fmtMs(f && f[q]));
        cell.classList.toggle('lifetime', !!f && f.lifetime);
        cell.title = f && f.lifetime ? 'over the backend\'s life (no samples in the last '
                   + QUANTILE_WINDOW + ' s)' : 'over the last ' + QUANTILE_WINDOW + ' s';
    }

    /* The button for the state the backend is already in has nothing to do. */
    if (!row.classList.contains('busy')) setRowButtons(row);
    return row;
}

/* While a request is in flight: buttons off, inputs read-only (they keep focus). */
function setBusy(el, busy) {
    for (const btn of el.querySelectorAll('button')) btn.disabled = busy;
    for (const input of el.querySelectorAll('input')) input.readOnly = busy;
    el.classList.toggle('busy', busy);
    el.setAttribute('aria-busy', String(busy));
}

const ACTION_STATE = { drain: 'drain', enable: 'up', disable: 'disabled' };

function setRowButtons(row, busy = false) {
    setBusy(row, busy);
    for (const btn of row.querySelectorAll('button[data-action]'))
        if (ACTION_STATE[btn.dataset.action] === row.dataset.state) btn.disabled = true;
}

/* The feed: newest first, the new ones highlighted, in people's words.
 * lbd writes an absent old/new/backend as "" or null: both mean none. */
function describe(e) {
    const who = e.backend || '', old = e.old || null, nu = e.new || null;
    switch (e.what) {
    case 'backend added': {
        const d = parseDesc(e.new);
        return 'added ' + who + ' (weight ' + (d.weight || '?') + ', ' +
               (STATE_WORDS[d.state] || d.state || 'up') + ')';
    }
    case 'backend removed': return 'removed ' + who;
    case 'health':
        return who + (e.new === 'down' ? ' went down' : e.new === 'up' ? ' came up' : ' health ' + e.new) +
               ' (health check: ' + e.old + ' → ' + e.new + ')';
    case 'state': {
        const verb = { drain: 'drained', disabled: 'disabled', up: 'enabled' }[e.new] || 'state ' + e.new;
        return who + ' ' + verb + ' (' + (STATE_WORDS[e.old] || e.old) + ' → ' +
               (STATE_WORDS[e.new] || e.new) + ')';
    }
    case 'weight': return who + ' weight ' + e.old + ' → ' + e.new;
    case 'strategy': return 'strategy ' + e.old + ' → ' + e.new;
    case 'pool added': return 'pool created (' + (parseDesc(e.new).strategy || '') + ')';
    case 'pool removed': return 'pool removed';
    default:
        return [who, e.what, old || nu ? (old || '–') + ' → ' + (nu || '–') : ''].filter(Boolean).join(' ');
    }
}

const eventItems = new Map();   /* event id -> <li> */

function renderEvents(doc) {
    const events = doc.events || [];
    const first = maxEventId == null;
    let newest = maxEventId ?? -Infinity;
    const items = events.map((e) => {
        let li = eventItems.get(e.id);
        if (!li) {
            const at = new Date(e.at);
            li = h('li', { className: 'event kind-' + String(e.what).replace(/\W+/g, '-') +
                                      (e.what === 'health' ? ' to-' + e.new : '') },
                   h('time', { dateTime: e.at, title: e.at, textContent: isNaN(at) ? e.at : fmtClock(at) }),
                   h('span', { className: 'actor', textContent: e.actor }),
                   h('span', { className: 'ev-pool', textContent: e.pool || '' }),
                   h('span', { className: 'what', textContent: describe(e) +
                                                 (e.detail ? ': ' + e.detail : '') }));
            eventItems.set(e.id, li);
            if (!first && e.id > (maxEventId ?? -Infinity)) flash(li, 'flash-new');
        }
        if (e.id > newest) newest = e.id;
        return li;
    });
    const list = $('#events');
    const same = items.length === list.children.length && items.every((li, i) => list.children[i] === li);
    if (!same) list.replaceChildren(...items);
    const ids = new Set(events.map((e) => e.id));
    for (const id of eventItems.keys()) if (!ids.has(id)) eventItems.delete(id);
    $('#events-empty').hidden = events.length > 0;
    maxEventId = newest === -Infinity ? 0 : newest;
}

/* ------------------------------------------------------------------ polls */

let polling = false;
let pollTimer = 0;

function showBanner(reason) {
    const b = $('#banner');
    const last = $('#updated').textContent;
    setText(b, 'Connection to lbd lost — retrying every second (' + reason + ').' +
            (lastDoc ? ' The figures below are from ' + last + '.' : ''));
    b.hidden = false;
    document.body.classList.add('stale');
}

/* Poll now, unless one is already under way; the next one a second after. */
async function poll() {
    if (polling) return;
    polling = true;
    clearTimeout(pollTimer);
    const started = performance.now();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), POLL_TIMEOUT_MS);
    try {
        const res = await fetch('status.json', { cache: 'no-store', signal: abort.signal });
        if (!res.ok) throw new Error('HTTP ' + res.status);
        const doc = await res.json();
        if (!doc || !Array.isArray(doc.pools)) throw new Error('not a status document');
        render(doc);
        $('#banner').hidden = true;
        document.body.classList.remove('stale');
    } catch (err) {
        showBanner(err.name === 'AbortError' ? 'no answer in ' + POLL_TIMEOUT_MS / 1000 + ' s'
                   : err.message || String(err));
    } finally {
        clearTimeout(timer);
        polling = false;
        pollTimer = setTimeout(poll, Math.max(0, POLL_MS - (performance.now() - started)));
    }
}

function render(doc) {
    lastDoc = doc;
    renderHeader(doc);
    renderPools(doc);
    renderEvents(doc);
    tokenRequired = doc.token_required !== false;
}

/* ------------------------------------------------------------ the admin API */

let tokenRequired = true;
let tokenWaiters = null;    /* the callers waiting for the dialog: [{resolve, reject}] */

function getToken() {
    try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
}

function setToken(t) {
    try {
        if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    } catch { /* storage refused: the token lives as long as this call */ }
    $('#token-forget').hidden = !t;
}

/* The token, asking for it when there is none; rejects when the operator cancels. */
function askToken() {
    const have = getToken();
    if (have) return Promise.resolve(have);
    return new Promise((resolve, reject) => {
        if (!tokenWaiters) {
            tokenWaiters = [];
            const dlg = $('#token-dialog');
            $('#token-input').value = '';
            if (!dlg.open) dlg.showModal();
            $('#token-input').focus();
        }
        tokenWaiters.push({ resolve, reject });
    });
}

function tokenDialogSetup() {
    const dlg = $('#token-dialog');
    $('#token-form').addEventListener('submit', (ev) => {
        ev.preventDefault();
        const t = $('#token-input').value.trim();
        if (!t) return;
        setToken(t);
        $('#token-input').value = '';
        dlg.close('saved');
    });
    $('#token-cancel').addEventListener('click', () => dlg.close('cancel'));
    dlg.addEventListener('close', () => {
        const waiters = tokenWaiters || [];
        tokenWaiters = null;
        const t = getToken();
        for (const w of waiters) t ? w.resolve(t) : w.reject(new Error('no token given: nothing was changed'));
    });
    $('#token-forget').addEventListener('click', () => {
        setToken(null);
        showMessage('The token is forgotten; the next change asks for it.', 'ok');
    });
    setToken(getToken());
}

class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
}

/*
 * One change: method, path under /api/, a JSON body or null.  Asks for the
 * token first when lbd needs one and the tab has none; on 401 forgets it,
 * says why, asks again and tries again with the new one (each token saved
 * gets one try).  Resolves to {body, generation}; throws ApiError.
 */
async function api(method, path, body) {
    for (;;) {
        const headers = { Accept: 'application/json' };
        if (tokenRequired) headers.Authorization = 'Bearer ' + await askToken();
        if (body != null) headers['Content-Type'] = 'application/json';
        let res;
        try {
            res = await fetch('api/' + path, { method, headers, cache: 'no-store',
                                               body: body != null ? JSON.stringify(body) : undefined });
        } catch (err) {
            throw new ApiError(0, 'cannot reach lbd: ' + (err.message || err));
        }
        const text = await res.text();
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON: use the text */ }
        if (res.ok)
            return { body: json, generation: res.headers.get('X-LBD-Generation') };
        const msg = (json && json.error) || text.trim() || res.statusText || 'request failed';
        if (res.status !== 401) throw new ApiError(res.status, msg);
        setToken(null);
        showMessage('401: ' + msg + ' — enter the admin token to retry.', 'error');
        tokenRequired = true;
    }
}

function showMessage(text, kind) {
    const m = $('#message');
    m.className = kind;
    m.textContent = text;
    $('#message-close').hidden = !text;
}

function failMessage(what, err) {
    const code = err instanceof ApiError && err.status ? err.status + ': ' : '';
    showMessage(what + ' failed — ' + code + err.message, 'error');
}

const enc = encodeURIComponent;

/* Row buttons: state changes, weight and remove. */
async function rowAction(row, action) {
    const pool = row.dataset.pool, id = row.dataset.id, addr = row.dataset.backend;
    const path = 'pools/' + enc(pool) + '/backends/' + enc(id);
    let method = 'PATCH', body, done;
    if (action === 'remove') {
        if (!await confirmRemove(pool, addr)) return;
        method = 'DELETE';
        done = 'Removed ' + addr + ' from ' + pool;
    } else if (action === 'set-weight') {
        const input = $('input[data-action="weight"]', row);
        const w = Number(input.value);
        if (input.value === '' || !Number.isInteger(w)) {
            showMessage('The weight of ' + addr + ' must be a whole number (1 to 1000).', 'error');
            input.focus();
            return;
        }
        body = { weight: w };
        done = 'Weight of ' + addr + ' set to ' + w;
    } else {
        const state = ACTION_STATE[action];
        if (!state) return;
        body = { state };
        done = addr + ' in ' + pool + ' is now ' + STATE_WORDS[state];
    }
    setRowButtons(row, true);
    try {
        const r = await api(method, path, body);
        showMessage(done + (r.generation ? ' (generation ' + r.generation + ').' : '.'), 'ok');
        if (action === 'set-weight' && r.body && r.body.weight != null) {
            const input = $('input[data-action="weight"]', row);
            input.value = String(r.body.weight);
            input.dataset.server = String(r.body.weight);
        }
        poll();
    } catch (err) {
        failMessage(action === 'set-weight' ? 'Setting the weight of ' + addr
                    : action[0].toUpperCase() + action.slice(1) + ' ' + addr, err);
    } finally {
        setRowButtons(row, false);
    }
}

function confirmRemove(pool, addr) {
    const dlg = $('#confirm-dialog');
    setText($('#confirm-text'), 'Remove ' + addr + ' from pool ' + pool +
            '? New connections stop going to it; this cannot be undone from here.');
    dlg.returnValue = '';
    dlg.showModal();
    $('#confirm-cancel').focus();
    return new Promise((resolve) => {
        dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    });
}

/* The strategy: sent on change; a change made while one is under way follows it. */
async function strategyChange(select) {
    const v = poolViews.get(select.dataset.pool);
    if (!v) return;
    v.strategyWant = select.value;
    if (v.strategyBusy) return;
    v.strategyBusy = true;
    v.section.classList.add('strategy-busy');
    select.setAttribute('aria-busy', 'true');
    try {
        while (v.strategyWant != null) {
            const want = v.strategyWant;
            v.strategyWant = null;
            try {
                const r = await api('PUT', 'pools/' + enc(select.dataset.pool) + '/strategy', { strategy: want });
                showMessage('Pool ' + select.dataset.pool + ' now balances with ' + want +
                            (r.generation ? ' (generation ' + r.generation + ').' : '.'), 'ok');
                select.dataset.server = want;
            } catch (err) {
                failMessage('Switching ' + select.dataset.pool + ' to ' + want, err);
                if (v.strategyWant == null) select.value = select.dataset.server;
            }
        }
    } finally {
        v.strategyBusy = false;
        v.section.classList.remove('strategy-busy');
        select.removeAttribute('aria-busy');
        poll();
    }
}

/* The add form: keeps what was typed unless the backend was added. */
async function addBackend(form) {
    const pool = form.dataset.pool;
    const address = form.elements.address.value.trim();
    const weight = Number(form.elements.weight.value || 1);
    setBusy(form, true);
    try {
        const r = await api('POST', 'pools/' + enc(pool) + '/backends', { address, weight });
        const id = r.body && r.body.id != null ? ' as #' + r.body.id : '';
        showMessage('Added ' + address + ' to ' + pool + id + '.', 'ok');
        form.reset();
        poll();
    } catch (err) {
        failMessage('Adding ' + address + ' to ' + pool, err);
    } finally {
        setBusy(form, false);
    }
}

/* ---------------------------------------------------------------- wiring */

function setup() {
    tokenDialogSetup();
    $('#message-close').addEventListener('click', () => showMessage('', ''));

    /* One listener each for every pool and row, present and future. */
    const pools = $('#pools');
    pools.addEventListener('click', (ev) => {
        const btn = ev.target.closest('button[data-action]');
        const row = btn && btn.closest('tr[data-id]');
        if (row && !btn.disabled) rowAction(row, btn.dataset.action);
    });
    pools.addEventListener('keydown', (ev) => {
        const input = ev.target.closest('input[data-action="weight"]');
        if (input && ev.key === 'Enter') {
            ev.preventDefault();
            const row = input.closest('tr[data-id]');
            if (!row.classList.contains('busy')) rowAction(row, 'set-weight');
        } else if (input && ev.key === 'Escape' && input.dataset.server) {
            input.value = input.dataset.server;      /* undo the edit */
        }
    });
    pools.addEventListener('change', (ev) => {
        if (ev.target.matches('select.strategy')) strategyChange(ev.target);
    });
    pools.addEventListener('submit', (ev) => {
        const form = ev.target.closest('form.add-backend');
        if (!form) return;
        ev.preventDefault();
        if (!form.classList.contains('busy')) addBackend(form);
    });

    /* Colours come from CSS: redraw when the scheme changes. */
    matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => {
        if (lastDoc) for (const v of poolViews.values()) drawChart(v.canvas, v.pool, lastDoc.now_ms);
    });
    poll();
}

document.addEventListener('DOMContentLoaded', setup);
