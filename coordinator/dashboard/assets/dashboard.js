// The lorafleet dashboard: one page per hash route, each drawn from the coordinator's JSON API
// (docs/api.md) and redrawn every two seconds while it is open:
//   #/queue  #/workers  #/sweeps  #/sweeps/ID  #/compare?sweeps=A,B  #/trials/ID  #/adapters
// A table's sort order and a chart's x key live in the route (?sort=TABLE.COLUMN&desc=1&x=KEY),
// so a view can be linked to and survives the redraw. The page only reads; text from the API is
// always set as text, never parsed as HTML.
'use strict';
(function () {
  const REFRESH_MS = 2000;
  const main = document.getElementById('page');
  const problem = document.getElementById('problem');
  const updated = document.getElementById('updated');
  const {plot, format} = window.lfCharts;

  // ---- elements and formats ----------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      e.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  const enc = encodeURIComponent;
  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  const num = (v, digits = 4) => isNum(v) ? String(Number(v.toPrecision(digits))) : '–';
  const signed = (v) => isNum(v) ? (v > 0 ? '+' : '') + num(v, 3) : '–';
  const count = (v) => isNum(v) ? v.toLocaleString('en-US') : '–';
  function bytes(v) {
    if (!isNum(v)) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; ++i; }
    return (i === 0 ? String(v) : v.toFixed(v >= 100 ? 0 : 1)) + ' ' + units[i];
  }
  function duration(s) {
    if (!isNum(s)) return '–';
    if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + ' s';
    if (s < 3600) return Math.floor(s / 60) + ' min ' + Math.round(s % 60) + ' s';
    return Math.floor(s / 3600) + ' h ' + Math.round((s % 3600) / 60) + ' min';
  }
  function time(ms) {
    if (!isNum(ms) || ms <= 0) return '–';
    const d = new Date(ms), p = (n) => String(n).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ` +
           `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }
  const value = (v) => v === null || v === undefined ? '–'
                     : typeof v === 'object' ? JSON.stringify(v) : String(v);
  const badge = (state) => h('span', {class: 'state ' + state}, state);
  const trialLink = (id) => id ? h('a', {href: '#/trials/' + enc(id)}, id) : '–';
  const sweepLink = (id, name) => id ? h('a', {href: '#/sweeps/' + enc(id)}, name || id) : '–';
  function progress(done, total) {
    const bar = h('span', {class: 'bar'}, h('span'));
    bar.firstChild.style.width = (total > 0 ? Math.min(100, 100 * done / total) : 0) + '%';
    return h('span', {class: 'progress'}, bar, `${done} / ${total}`);
  }
  const facts = (pairs) => h('dl', {class: 'facts'},
                             pairs.filter((p) => p).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  function cards(counts) {
    return h('div', {class: 'cards'}, Object.entries(counts).map(([state, n]) =>
      h('div', {class: 'card', 'data-state': state},
        h('div', {class: 'label'}, state), h('div', {class: 'value'}, count(n)))));
  }

  // ---- the API -----------------------------------------------------------------------------

  async function api(path, {missingOk = false} = {}) {
    let response;
    try {
      response = await fetch(path, {headers: {Accept: 'application/json'}});
    } catch (e) {
      throw new Error(`cannot reach the coordinator (${path}): ${e.message}`);
    }
    const text = await response.text();
    let body = null;
    try { body = JSON.parse(text); } catch (e) { /* an error page that is not JSON */ }
    if (response.ok && body !== null) return body;
    const message = body && body.error ? body.error.message : `${response.status} ${text.slice(0, 200)}`;
    if (missingOk && response.status === 404) return {missing: message};
    if (response.status === 401) {
      throw new Error(`${path}: ${message} (reads from another machine need the daemon's ` +
                      '--open-reads flag)');
    }
    throw new Error(`${path}: ${message}`);
  }

  // ---- routes ------------------------------------------------------------------------------

  function route() {
    const hash = location.hash.replace(/^#/, '') || '/queue';
    const [path, search] = hash.split('?');
    return {path, parts: path.split('/').filter(Boolean).map(decodeURIComponent),
            query: new URLSearchParams(search || '')};
  }

  // The current route with some query keys changed (null removes one).
  function withQuery(ctx, changes) {
    const q = new URLSearchParams(ctx.query);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null) q.delete(k); else q.set(k, v);
    }
    const s = q.toString();
    return '#' + ctx.path + (s ? '?' + s : '');
  }

  // ---- tables ------------------------------------------------------------------------------

  // columns: [{key, label, num, get(row) -> sort value, show(row) -> text or node}]. With `ctx`
  // and `id`, headers sort (?sort=ID.KEY, &desc=1); empty values sort last either way.
  function table(columns, rows, {ctx, id, empty, rowClass} = {}) {
    if (rows.length === 0) return h('p', {class: 'muted', 'data-table': id}, empty || 'none');
    const get = (c, r) => c.get ? c.get(r) : r[c.key];
    let sorted = rows;
    const [sortTable, sortKey] = ctx && ctx.query.get('sort') ? ctx.query.get('sort').split('.', 2)
                                                              : [null, null];
    const desc = ctx && ctx.query.get('desc') === '1';
    const column = sortTable === id && columns.find((c) => c.key === sortKey);
    if (column) {
      const key = (r) => {
        const v = get(column, r);
        return v === null || v === undefined || (typeof v === 'number' && !isFinite(v)) ? null : v;
      };
      sorted = rows.map((r, i) => ({r, i, v: key(r)})).sort((a, b) => {
        if (a.v === null || b.v === null) return a.v === b.v ? a.i - b.i : a.v === null ? 1 : -1;
        const c = typeof a.v === 'number' && typeof b.v === 'number'
                      ? a.v - b.v : value(a.v).localeCompare(value(b.v), 'en', {numeric: true});
        return (desc ? -c : c) || a.i - b.i;
      }).map((x) => x.r);
    }
    const head = h('tr', {}, columns.map((c) => {
      const label = c.label || c.key;
      if (!ctx || !id) return h('th', {class: c.num ? 'num' : null}, label);
      const on = column === c;
      const href = withQuery(ctx, {sort: `${id}.${c.key}`, desc: on && !desc ? '1' : null});
      return h('th', {class: c.num ? 'num' : null},
               h('a', {href, class: on ? (desc ? 'sorted desc' : 'sorted') : null,
                       'data-column': c.key}, label));
    }));
    const body = sorted.map((r) => h('tr', {class: rowClass ? rowClass(r) : null,
                                            'data-id': r.trial_id || r.id || null},
      columns.map((c) => h('td', {class: c.num ? 'num' : null, 'data-column': c.key},
                           c.show ? c.show(r) : value(get(c, r))))));
    return h('div', {class: 'scroll'},
             h('table', {'data-table': id}, h('thead', {}, head), h('tbody', {}, body)));
  }

  // ---- pages -------------------------------------------------------------------------------

  async function queuePage(ctx) {
    const q = await api('/v1/queue?limit=500');
    return [
      h('h1', {}, 'Queue'),
      cards(q.counts),
      h('h2', {}, `Running (${q.running.length})`),
      table([
        {key: 'trial_id', label: 'trial', show: (r) => trialLink(r.trial_id)},
        {key: 'sweep_id', label: 'sweep', show: (r) => sweepLink(r.sweep_id)},
        {key: 'state', show: (r) => badge(r.state)},
        {key: 'worker'},
        {key: 'attempt', num: true},
        {key: 'step', num: true, get: (r) => r.steps ? r.step / r.steps : 0,
         show: (r) => progress(r.step, r.steps)},
        {key: 'loss', num: true, show: (r) => num(r.loss)},
        {key: 'running_s', label: 'running', num: true, show: (r) => duration(r.running_s)},
      ], q.running, {ctx, id: 'running', empty: 'Nothing is running.'}),
      h('h2', {}, `Queued (${q.queued.length})`),
      table([
        {key: 'trial_id', label: 'trial', show: (r) => trialLink(r.trial_id)},
        {key: 'sweep_id', label: 'sweep', show: (r) => sweepLink(r.sweep_id)},
        {key: 'priority', num: true},
        {key: 'paused', show: (r) => r.paused ? badge('paused') : ''},
        {key: 'attempt', num: true},
        {key: 'waiting_s', label: 'waiting', num: true, show: (r) => duration(r.waiting_s)},
        {key: 'eligible_in_s', label: 'retry in', num: true,
         show: (r) => r.eligible_in_s > 0 ? duration(r.eligible_in_s) : ''},
      ], q.queued, {ctx, id: 'queued', empty: 'Nothing is queued.'}),
    ];
  }

  async function workersPage(ctx) {
    const {workers} = await api('/v1/workers');
    const busy = workers.filter((w) => w.state === 'busy').length;
    return [
      h('h1', {}, 'Workers'),
      h('p', {class: 'muted'}, `${workers.length} connected, ${busy} busy`),
      table([
        {key: 'id'},
        {key: 'host'},
        {key: 'rank', num: true},
        {key: 'device'},
        {key: 'memory_bytes', label: 'memory', num: true, show: (w) => bytes(w.memory_bytes)},
        {key: 'state', show: (w) => badge(w.state)},
        // A pack: its first trial, and how many more train beside it.
        {key: 'trial', show: (w) => (w.trials || []).length > 1
          ? [trialLink(w.trial), ` +${w.trials.length - 1} packed`] : trialLink(w.trial)},
        {key: 'step', num: true, show: (w) => w.trial ? count(w.step) : ''},
        {key: 'tokens_per_s', label: 'tokens/s', num: true,
         show: (w) => w.trial ? count(Math.round(w.tokens_per_s)) : ''},
        {key: 'last_heartbeat_s', label: 'last heartbeat', num: true,
         show: (w) => duration(w.last_heartbeat_s) + ' ago'},
        {key: 'connected_s', label: 'connected', num: true, show: (w) => duration(w.connected_s)},
      ], workers, {ctx, id: 'workers', empty: 'No worker is connected; `lorafleet up` starts them.'}),
    ];
  }

  const selected = new Set();  // sweeps ticked for comparison; kept across redraws

  async function sweepsPage(ctx) {
    const {sweeps} = await api('/v1/sweeps');
    const compare = h('a', {class: 'compare-selected'});
    const refresh = () => {
      const ids = [...selected].filter((id) => sweeps.some((s) => s.id === id));
      compare.textContent = ids.length >= 2 ? `Compare the ${ids.length} selected sweeps`
                                            : 'Tick two or more sweeps to compare them';
      if (ids.length >= 2) compare.setAttribute('href', '#/compare?sweeps=' + ids.map(enc).join(','));
      else compare.removeAttribute('href');
    };
    refresh();
    const done = (s) => s.counts.completed + s.counts.failed + s.counts.cancelled + s.counts.stopped;
    return [
      h('h1', {}, 'Sweeps'),
      table([
        {key: 'pick', label: '', show: (s) => h('input', {
          type: 'checkbox', checked: selected.has(s.id), 'aria-label': 'compare ' + s.id,
          onchange: (e) => { e.target.checked ? selected.add(s.id) : selected.delete(s.id); refresh(); },
        })},
        {key: 'name', show: (s) => sweepLink(s.id, s.name || s.id)},
        {key: 'id'},
        {key: 'state', show: (s) => badge(s.state)},
        {key: 'owner'},
        {key: 'priority', num: true},
        {key: 'trial_count', label: 'trials', num: true},
        {key: 'done', num: true, get: (s) => s.trial_count ? done(s) / s.trial_count : 0,
         show: (s) => progress(done(s), s.trial_count)},
        {key: 'running', num: true, get: (s) => s.counts.running + s.counts.assigned},
        {key: 'failed', num: true, get: (s) => s.counts.failed},
        {key: 'created_ms', label: 'created', num: true, show: (s) => time(s.created_ms)},
      ], sweeps, {ctx, id: 'sweeps', empty: 'No sweep yet: `lorafleet submit SWEEP.yaml`.'}),
      h('p', {}, compare),
    ];
  }

  // The swept keys of a comparison (the union of its trials' params), in a stable order.
  function sweptKeys(rows) {
    const keys = new Set();
    for (const r of rows) Object.keys(r.params || {}).forEach((k) => keys.add(k));
    return [...keys].sort();
  }
  const xOf = (row, key) => row.params && key in row.params ? row.params[key]
                          : key in row ? row[key] : null;

  // Eval loss against `key`, one line per combination of the other swept keys.
  function lossChart(rows, keys, key) {
    // Trials stopped early by ASHA have their (earlier) eval loss too; they are drawn hollow.
    const done = rows.filter((r) => r.has_adapter && isNum(r.eval_loss) && xOf(r, key) !== null);
    const numeric = done.every((r) => isNum(xOf(r, key)));
    const categories = numeric ? null
        : [...new Set(done.map((r) => value(xOf(r, key))))].sort((a, b) =>
              a.localeCompare(b, 'en', {numeric: true}));
    const groups = new Map();
    for (const r of done) {
      const name = keys.filter((k) => k !== key).map((k) => `${k}=${value(xOf(r, k))}`).join(', ');
      if (!groups.has(name)) groups.set(name, []);
      groups.get(name).push({
        x: numeric ? xOf(r, key) : categories.indexOf(value(xOf(r, key))), y: r.eval_loss,
        id: r.trial_id, href: '#/trials/' + enc(r.trial_id),
        cls: r.state === 'stopped' ? 'stopped' : null,
        title: `${r.trial_id}: ${key}=${value(xOf(r, key))}, eval loss ${num(r.eval_loss)}` +
               (r.state === 'stopped' ? ' (stopped early)' : ''),
      });
    }
    const series = [...groups.entries()].map(([name, points]) => ({
      name: name || null, points: points.sort((a, b) => a.x - b.x)}));
    return plot({title: `eval loss against ${key}`, series, empty: 'no completed trial yet',
                 x: {label: key, log: 'auto', categories}, y: {label: 'eval loss'}});
  }

  // The Pareto front of the compare reply's front_objectives (quality against adapter size unless
  // the sweep states its objectives): the trials no other trial beats on all of them, drawn on
  // the first two (eval loss up the side when it is one of them).
  const objectiveKey = {loss: 'train_loss', eval_perplexity: 'perplexity'};
  const objectiveLabel = {eval_loss: 'eval loss', adapter_bytes: 'adapter size (bytes)',
                          trainable_params: 'trainable parameters', loss: 'train loss'};
  function paretoChart(rows, objectives) {
    const names = Object.keys(objectives || {eval_loss: 'min', adapter_bytes: 'min'});
    const yName = names.includes('eval_loss') ? 'eval_loss' : names[0];
    const xName = names.find((n) => n !== yName) || 'adapter_bytes';
    const [xKey, yKey] = [objectiveKey[xName] || xName, objectiveKey[yName] || yName];
    const [xLabel, yLabel] = [objectiveLabel[xName] || xName, objectiveLabel[yName] || yName];
    const done = rows.filter((r) => isNum(r[xKey]) && isNum(r[yKey]));
    const point = (r) => ({x: r[xKey], y: r[yKey], id: r.trial_id,
                           cls: r.pareto_front ? 'pareto' : null, href: '#/trials/' + enc(r.trial_id),
                           title: `${r.trial_id}: ${xLabel} ${num(r[xKey])}, ${yLabel} ${num(r[yKey])}`});
    const front = done.filter((r) => r.pareto_front).map(point).sort((a, b) => a.x - b.x);
    const more = names.length > 2 ? ` (front over ${names.join(', ')})` : '';
    return plot({
      title: `${yLabel} against ${xLabel}${more}`, front, empty: 'no completed trial yet',
      series: [{name: 'Pareto front', points: front, line: false, color: '#1e8a4c'},
               {name: 'dominated', points: done.filter((r) => !r.pareto_front).map(point),
                line: false, color: '#98a1b3'}],
      x: {label: xLabel, log: 'auto'}, y: {label: yLabel},
    });
  }

  // Configurations run with several seeds (the compare reply's `repeats`): each one's mean eval
  // loss and 95% interval drawn on one shared scale, and how it stands against the best.
  function repeatsTable(repeats, ctx) {
    if (!repeats || repeats.length === 0) return [];
    const loss = (g) => g.eval_loss || {};
    const ends = repeats.flatMap((g) => [loss(g).low, loss(g).high, loss(g).mean]).filter(isNum);
    const lo = Math.min(...ends), hi = Math.max(...ends);
    const at = (v) => 4 + (hi > lo ? (v - lo) / (hi - lo) : 0.5) * 152;
    const ns = 'http://www.w3.org/2000/svg';
    const svg = (tag, attrs) => {
      const e = document.createElementNS(ns, tag);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
      return e;
    };
    function bar(g) {
      const l = loss(g);
      if (!isNum(l.mean)) return '–';
      const box = svg('svg', {width: 160, height: 14, 'data-interval': g.versus_best,
                              'aria-label': `mean ${num(l.mean)}` +
                                  (isNum(l.low) ? `, 95% interval ${num(l.low)} to ${num(l.high)}` : '')});
      if (isNum(l.low)) {
        box.appendChild(svg('line', {x1: at(l.low), x2: at(l.high), y1: 7, y2: 7,
                                     stroke: '#4263eb', 'stroke-width': 2}));
      }
      box.appendChild(svg('circle', {cx: at(l.mean), cy: 7, r: 3.5,
                                     fill: g.versus_best === 'best' ? '#1e8a4c' : '#343a40'}));
      return h('span', {}, box, ' ', isNum(l.low) ? `${num(l.low)} – ${num(l.high)}` : '');
    }
    const config = (g) => Object.entries(g.params || {}).map(([k, v]) => `${k}=${value(v)}`)
                              .join(' ') || '(the base job)';
    const verdict = {best: 'best', worse: 'worse', indistinct: 'not distinguishable', unknown: '–'};
    return [
      h('h2', {}, `Repeats (${repeats.length} configurations)`),
      h('p', {class: 'muted'}, 'Each configuration over its seeds: mean eval loss and its 95% ' +
        'interval; "worse" when Welch\'s t-test against the best rejects equality at 5%.'),
      table([{key: 'config', label: 'configuration', get: config},
             {key: 'n', num: true},
             {key: 'mean', label: 'eval loss', num: true, get: (g) => loss(g).mean,
              show: (g) => num(loss(g).mean)},
             {key: 'interval', label: '95% interval', show: bar, get: (g) => loss(g).low},
             {key: 'versus_best', label: 'vs best', show: (g) => verdict[g.versus_best] || '–'}],
            repeats.map((g, i) => ({...g, id: 'config-' + i})), {ctx, id: 'repeats'}),
    ];
  }

  function comparison(cmp, ctx) {
    const rows = cmp.rows;
    const keys = sweptKeys(rows);
    const axisKeys = keys.length > 0 ? keys : ['r'];
    const method = rows.length > 0 ? rows[0].method : 'lora';
    let key = ctx.query.get('x');
    if (!axisKeys.includes(key)) key = axisKeys.find((k) => k === method + '.r') || axisKeys[0];
    const picker = h('select', {'aria-label': 'x axis', onchange: (e) => {
      location.hash = withQuery(ctx, {x: e.target.value});
    }}, axisKeys.map((k) => h('option', {value: k, selected: k === key}, k)));
    // The columns come with the comparison (jobs::CompareColumns), formatted by their format;
    // the trial and sweep link to their pages, and swept keys without a column follow lr.
    const covered = new Set([method + '.r', method + '.alpha', 'train.lr']);
    const multi = cmp.sweeps.length > 1;
    const shows = {
      text: (k) => (r) => r[k] ?? '–',
      int: (k) => (r) => isNum(r[k]) ? count(Math.round(r[k])) : '–',
      number: (k) => (r) => num(r[k]),
      fixed2: (k) => (r) => num(r[k]),
      fixed4: (k) => (r) => num(r[k]),
      bytes: (k) => (r) => bytes(r[k]),
      percent: (k) => (r) => isNum(r[k]) ? num(r[k], 3) + '%' : '–',
      duration: (k) => (r) => duration(r[k]),
      signed4: (k) => (r) => signed(r[k]),
      ratio: (k) => (r) => isNum(r[k]) ? num(r[k], 3) + '×' : '–',
      check: (k) => (r) => r[k] ? '✓' : '',
    };
    const special = {
      trial_id: (r) => trialLink(r.trial_id),
      state: (r) => badge(r.state),
    };
    const present = (k) => rows.some((r) => isNum(r[k]));
    const columns = [];
    for (const c of cmp.columns || []) {
      if (c.when_present && !present(c.key)) continue;
      const column = {key: c.key, label: c.label, num: c.format !== 'text',
                      show: special[c.key] || (shows[c.format] || shows.number)(c.key)};
      if (c.format === 'check') column.get = (r) => r[c.key] ? 1 : 0;
      columns.push(column);
      if (c.key === 'trial_id' && multi) {
        columns.push({key: 'sweep_id', label: 'sweep', show: (r) => sweepLink(r.sweep_id)});
      }
      if (c.key === 'lr') {
        for (const k of keys.filter((k) => !covered.has(k))) columns.push({key: k, get: (r) => xOf(r, k)});
      }
    }
    return [
      h('div', {class: 'row'},
        h('div', {class: 'panel', 'data-chart': 'loss'},
          h('h2', {}, 'Eval loss against ', picker), lossChart(rows, keys, key)),
        h('div', {class: 'panel', 'data-chart': 'pareto'},
          h('h2', {}, cmp.front_objectives && !('adapter_bytes' in cmp.front_objectives &&
                                                Object.keys(cmp.front_objectives).length === 2)
            ? 'The Pareto front of the sweep\'s objectives' : 'Quality and size: the Pareto front'),
          paretoChart(rows, cmp.front_objectives))),
      h('h2', {}, `Trials (${rows.length})`),
      table(columns, rows, {ctx, id: 'compare', rowClass: (r) => r.pareto_front ? 'front' : null}),
      repeatsTable(cmp.repeats, ctx),
    ];
  }

  async function sweepPage(ctx) {
    const id = ctx.parts[1];
    const [{sweep}, cmp] = await Promise.all([api('/v1/sweeps/' + enc(id)),
                                              api('/v1/sweeps/' + enc(id) + '/compare')]);
    const c = sweep.counts;
    const done = c.completed + c.failed + c.cancelled + c.stopped;
    const states = Object.entries(c).filter(([, n]) => n > 0).map(([s, n]) => `${n} ${s}`);
    return [
      h('h1', {}, sweep.name || 'sweep', h('span', {class: 'id'}, sweep.id)),
      facts([['state', badge(sweep.state)], ['owner', sweep.owner || '–'],
             ['priority', String(sweep.priority)], ['base model', cmp.base_model || '–'],
             ['trials', [progress(done, sweep.trial_count), ' · ', states.join(', ')]],
             ['created', time(sweep.created_ms)]]),
      comparison(cmp, ctx),
    ];
  }

  async function comparePage(ctx) {
    const ids = (ctx.query.get('sweeps') || '').split(',').filter(Boolean);
    if (ids.length === 0) throw new Error('name the sweeps to compare: #/compare?sweeps=ID,ID');
    const cmp = await api('/v1/compare?sweeps=' + ids.map(enc).join(','));
    return [
      h('h1', {}, `Comparison of ${cmp.sweeps.length} sweeps`),
      facts([['sweeps', cmp.sweeps.map((s, i) => [i ? ', ' : '', sweepLink(s.id, s.name || s.id)])],
             ['base model', cmp.base_model || '–']]),
      comparison(cmp, ctx),
    ];
  }

  // Loss points of the trial on screen, fetched a step range at a time while it trains; a new
  // attempt (a retry resumes from a checkpoint and reports some steps again) starts over.
  let curve = {key: null, loss: [], eval: [], next: 0};

  function thin(points, most) {
    if (points.length <= most) return points;
    const every = Math.ceil(points.length / most);
    return points.filter((_, i) => i % every === 0 || i === points.length - 1);
  }

  // An exponential moving average (weight 0.9, bias-corrected as TensorBoard's): the trend
  // through the noise of small batches.
  function smooth(points) {
    let avg = 0, weight = 0;
    return points.map((p) => {
      avg = 0.9 * avg + 0.1 * p.y;
      weight = 0.9 * weight + 0.1;
      return {x: p.x, y: avg / weight};
    });
  }

  async function trialPage(ctx) {
    const id = ctx.parts[1];
    const {trial: t} = await api('/v1/trials/' + enc(id));
    const key = `${t.id}#${t.attempt}`;
    if (curve.key !== key) curve = {key, loss: [], eval: [], next: 0};
    const [metrics, events, files] = await Promise.all([
      api(`/v1/trials/${enc(id)}/metrics?from_step=${curve.next}`),
      api(`/v1/events?trial=${enc(id)}&limit=1000`),
      api(`/v1/trials/${enc(id)}/adapter`, {missingOk: true}),
    ]);
    for (const p of metrics.metrics) {
      if (p.name === 'loss') curve.loss.push({x: p.step, y: p.value});
      if (p.name === 'eval_loss') curve.eval.push({x: p.step, y: p.value});
      curve.next = Math.max(curve.next, p.step + 1);
    }
    const job = t.job || {};
    const params = Object.entries(t.params || {}).map(([k, v]) => `${k}=${value(v)}`).join(', ');
    const adapter = files.missing
        ? h('p', {class: 'muted'}, files.missing)
        : table([
            {key: 'name', show: (f) => h('a', {href: `/v1/trials/${enc(id)}/adapter/${enc(f.name)}`,
                                               download: f.name, class: 'download'}, f.name)},
            {key: 'size', num: true, show: (f) => bytes(f.size)},
            {key: 'sha256', show: (f) => h('code', {}, f.sha256.slice(0, 16) + '…')},
          ], files.files, {id: 'files'});
    return [
      h('h1', {}, 'Trial', h('span', {class: 'id'}, t.id)),
      facts([['sweep', sweepLink(t.sweep_id)], ['state', badge(t.state)],
             ['swept values', params || '–'], ['method', job.method || 'lora'],
             ['base model', job.base_model || '–'],
             ['step', progress(t.step, t.steps)],
             ['loss', num(isNum(t.loss) ? t.loss : curve.loss.length ? curve.loss.at(-1).y : null)],
             ['worker', t.worker || '–'], ['attempt', `${t.attempt} (failures ${t.failures})`],
             ['started', time(t.started_ms)], ['finished', time(t.finished_ms)],
             ['checkpoint', t.checkpoint || '–'],
             t.last_error && ['last error', h('span', {class: 'error-text'}, t.last_error)]]),
      h('div', {class: 'panel', 'data-chart': 'curve'}, h('h2', {}, 'Loss'),
        plot({title: 'loss against step', width: 960, height: 320, empty: 'no step reported yet',
              series: [{name: 'train loss', points: thin(curve.loss, 800), dots: false},
                       {name: 'train loss, smoothed', points: thin(smooth(curve.loss), 800),
                        dots: false},
                       {name: 'eval loss', points: curve.eval}],
              x: {label: 'step'}, y: {label: 'loss'}})),
      h('h2', {}, 'Adapter'),
      adapter,
      h('h2', {}, 'State history'),
      table([
        {key: 'time_ms', label: 'time', show: (e) => time(e.time_ms)},
        {key: 'actor'}, {key: 'kind'}, {key: 'detail'},
      ], events.events, {id: 'events', empty: 'no events'}),
      h('h2', {}, 'Configuration'),
      h('pre', {class: 'config'}, JSON.stringify(job, null, 2)),
    ];
  }

  async function adaptersPage(ctx) {
    const {adapters} = await api('/v1/adapters');
    return [
      h('h1', {}, 'Adapters'),
      h('p', {class: 'muted'}, 'Completed trials, newest first. `lorafleet tag TRIAL NAME` names ' +
                               'one; `lorafleet export TRIAL DIR` writes its PEFT files.'),
      table([
        {key: 'tags', get: (a) => a.tags.join(', ')},
        {key: 'trial_id', label: 'trial', show: (a) => trialLink(a.trial_id)},
        {key: 'sweep_name', label: 'sweep', show: (a) => sweepLink(a.sweep_id, a.sweep_name)},
        {key: 'method'},
        {key: 'base_model', label: 'base model'},
        {key: 'eval_loss', label: 'eval loss', num: true, show: (a) => num(a.eval_loss)},
        {key: 'adapter_bytes', label: 'size', num: true, show: (a) => bytes(a.adapter_bytes)},
        {key: 'finished_ms', label: 'finished', num: true, show: (a) => time(a.finished_ms)},
      ], adapters, {ctx, id: 'adapters', empty: 'No adapter yet: they appear as trials complete.'}),
    ];
  }

  const pages = {
    queue: queuePage,
    workers: workersPage,
    sweeps: (ctx) => ctx.parts.length > 1 ? sweepPage(ctx) : sweepsPage(ctx),
    compare: comparePage,
    trials: trialPage,
    adapters: adaptersPage,
  };

  // ---- drawing and redrawing ---------------------------------------------------------------

  let generation = 0, timer = null, draws = 0;

  async function draw(fresh) {
    const mine = ++generation;
    clearTimeout(timer);
    const ctx = route();
    const name = ctx.parts[0] || 'queue';
    for (const a of document.querySelectorAll('header nav a')) {
      a.classList.toggle('current', a.dataset.page === name);
    }
    try {
      const page = pages[name];
      if (!page) throw new Error(`no page '${ctx.path}': pick one above`);
      const content = await page(ctx);
      if (mine !== generation) return;  // the route changed while this one was loading
      main.replaceChildren(...[content].flat(Infinity));
      main.dataset.page = name;
      problem.hidden = true;
      document.body.dataset.draws = String(++draws);
      updated.textContent = 'updated ' + time(Date.now());
    } catch (e) {
      if (mine !== generation) return;
      problem.textContent = e.message;
      problem.hidden = false;
      if (fresh) main.replaceChildren(h('p', {class: 'muted'}, 'Nothing to show.'));
    }
    if (mine === generation && !document.hidden) timer = setTimeout(() => draw(false), REFRESH_MS);
  }

  window.addEventListener('hashchange', () => draw(true));
  document.addEventListener('visibilitychange', () => { if (!document.hidden) draw(false); });
  draw(true);
})();
