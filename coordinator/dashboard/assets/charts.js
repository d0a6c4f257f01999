// Charts the dashboard draws itself, as SVG, so it needs no chart library and no network: a line
// chart (loss against step, eval loss against a swept key) and a scatter plot (quality against
// adapter size, with the Pareto front). window.lfCharts.plot(options) returns an <svg> element.
'use strict';
(function () {
  const SVG = 'http://www.w3.org/2000/svg';
  const COLORS = ['#2f6fdb', '#d9480f', '#2b8a3e', '#ae3ec9', '#e67700', '#0b7285', '#c2255c',
                  '#5c940d', '#364fc7', '#862e9c'];

  function node(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Round numbers between lo and hi, about `count` of them.
  function linearTicks(lo, hi, count) {
    const raw = (hi - lo) / count;
    const magnitude = Math.pow(10, Math.floor(Math.log10(raw)));
    const f = raw / magnitude;
    const step = (f >= 7.5 ? 10 : f >= 3.5 ? 5 : f >= 1.5 ? 2 : 1) * magnitude;
    const ticks = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
      ticks.push(Number(v.toPrecision(12)));
    }
    return ticks;
  }

  // Powers of ten in [lo, hi]; with fewer than three, their 2x and 5x multiples too.
  function logTicks(lo, hi) {
    const ticks = [];
    for (let p = Math.floor(Math.log10(lo)); p <= Math.ceil(Math.log10(hi)); ++p) {
      for (const m of [1, 2, 5]) ticks.push({v: m * Math.pow(10, p), major: m === 1});
    }
    const inside = ticks.filter((t) => t.v >= lo * 0.999 && t.v <= hi * 1.001);
    const majors = inside.filter((t) => t.major);
    return (majors.length >= 3 ? majors : inside).map((t) => t.v);
  }

  // 3 significant digits with k, M, G: 250000 -> "250k", 1500000 -> "1.5M".
  function format(v) {
    if (v === 0) return '0';
    const a = Math.abs(v);
    for (const [unit, size] of [['G', 1e9], ['M', 1e6], ['k', 1e3]]) {
      if (a >= size * (unit === 'k' ? 10 : 1)) return String(Number((v / size).toPrecision(3))) + unit;
    }
    if (a < 1e-3) return v.toExponential(0);
    return String(Number(v.toPrecision(4)));
  }

  // One axis: maps data values to pixels over [from, to]. A log axis needs positive values; it is
  // chosen when asked, or (log: 'auto') when the values span more than 10x, as the CLI's --plot.
  function scale(values, opts, from, to) {
    let lo = Math.min(...values), hi = Math.max(...values);
    const log = opts.log === true ||
                (opts.log === 'auto' && lo > 0 && hi / lo > 10);
    if (opts.categories) {
      lo = -0.5;
      hi = opts.categories.length - 0.5;
    } else if (log) {
      lo /= 1.15;
      hi *= 1.15;
    } else {
      if (opts.zero) lo = Math.min(lo, 0);
      const pad = hi > lo ? (hi - lo) * 0.06 : Math.abs(hi) * 0.1 || 0.5;
      lo -= opts.zero && lo === 0 ? 0 : pad;
      hi += pad;
    }
    const f = log ? Math.log10 : (v) => v;
    const a = f(lo), b = f(hi);
    const map = (v) => from + (f(v) - a) / (b - a) * (to - from);
    const ticks = opts.categories ? opts.categories.map((_, i) => i)
                                  : log ? logTicks(lo, hi) : linearTicks(lo, hi, 5);
    const label = opts.categories ? (i) => opts.categories[i] : format;
    return {map, ticks, label, log};
  }

  // options: {width, height, x: {label, log, categories}, y: {label, log, zero},
  //   series: [{name, points: [{x, y, title, href, cls}], line, dots}], front: [{x, y}]}
  function plot(options) {
    const width = options.width || 640, height = options.height || 320;
    const series = options.series.filter((s) => s.points.length > 0);
    const named = series.filter((s) => s.name);
    const legendWidth = named.length > 0 ? 190 : 0;
    const m = {left: 62, right: 16 + legendWidth, top: 14, bottom: 46};
    const svg = node('svg', {class: 'chart', width, height, viewBox: `0 0 ${width} ${height}`,
                             role: 'img'});
    if (options.title) svg.appendChild(node('title', {}, options.title));
    const all = series.flatMap((s) => s.points);
    if (all.length === 0) {
      svg.appendChild(node('text', {x: width / 2, y: height / 2, 'text-anchor': 'middle',
                                    class: 'empty'}, options.empty || 'no data yet'));
      return svg;
    }
    const xs = scale(all.map((p) => p.x), options.x || {}, m.left, width - m.right);
    const ys = scale(all.map((p) => p.y), options.y || {}, height - m.bottom, m.top);
    const grid = node('g', {class: 'grid'}), axes = node('g', {class: 'axis'});
    for (const t of ys.ticks) {
      const y = ys.map(t);
      if (y < m.top - 1 || y > height - m.bottom + 1) continue;
      grid.appendChild(node('line', {x1: m.left, x2: width - m.right, y1: y, y2: y}));
      axes.appendChild(node('text', {x: m.left - 6, y: y + 4, 'text-anchor': 'end'}, ys.label(t)));
    }
    for (const t of xs.ticks) {
      const x = xs.map(t);
      if (x < m.left - 1 || x > width - m.right + 1) continue;
      grid.appendChild(node('line', {x1: x, x2: x, y1: m.top, y2: height - m.bottom}));
      axes.appendChild(node('text', {x, y: height - m.bottom + 16, 'text-anchor': 'middle'},
                            xs.label(t)));
    }
    axes.appendChild(node('path', {d: `M${m.left},${m.top}V${height - m.bottom}H${width - m.right}`,
                                   fill: 'none'}));
    const xLabel = (options.x && options.x.label || '') + (xs.log ? ' (log scale)' : '');
    axes.appendChild(node('text', {x: (m.left + width - m.right) / 2, y: height - 8,
                                   'text-anchor': 'middle', class: 'label'}, xLabel));
    axes.appendChild(node('text', {x: 14, y: (m.top + height - m.bottom) / 2, 'text-anchor': 'middle',
                                   transform: `rotate(-90 14 ${(m.top + height - m.bottom) / 2})`,
                                   class: 'label'}, options.y && options.y.label || ''));
    svg.appendChild(grid);
    svg.appendChild(axes);
    if (options.front && options.front.length > 1) {
      const pts = options.front.map((p) => `${xs.map(p.x).toFixed(1)},${ys.map(p.y).toFixed(1)}`);
      svg.appendChild(node('polyline', {class: 'front', points: pts.join(' ')}));
    }
    series.forEach((s, i) => {
      const color = s.color || COLORS[i % COLORS.length];
      // data-last-x: the last point's x (a thinned line keeps it), e.g. the newest step.
      const g = node('g', {class: 'series-group', 'data-name': s.name || '',
                           'data-last-x': s.points[s.points.length - 1].x});
      if (s.line !== false) {
        const pts = s.points.map((p) => `${xs.map(p.x).toFixed(1)},${ys.map(p.y).toFixed(1)}`);
        g.appendChild(node('polyline', {class: 'series', stroke: color, points: pts.join(' '),
                                        'data-points': s.points.length}));
      }
      if (s.dots !== false) {
        for (const p of s.points) {
          const dot = node('circle', {class: 'point' + (p.cls ? ' ' + p.cls : ''), r: p.r || 3.5,
                                      cx: xs.map(p.x).toFixed(1), cy: ys.map(p.y).toFixed(1),
                                      fill: color, stroke: color});
          if (p.id) dot.setAttribute('data-id', p.id);
          if (p.title) dot.appendChild(node('title', {}, p.title));
          if (p.href) {
            const a = node('a', {href: p.href});
            a.appendChild(dot);
            g.appendChild(a);
          } else {
            g.appendChild(dot);
          }
        }
      }
      svg.appendChild(g);
    });
    named.forEach((s, i) => {
      const color = s.color || COLORS[series.indexOf(s) % COLORS.length];
      const x = width - legendWidth + 8, y = m.top + 6 + i * 18;
      const g = node('g', {class: 'legend'});
      g.appendChild(node('rect', {x, y, width: 12, height: 4, fill: color}));
      g.appendChild(node('text', {x: x + 18, y: y + 6}, s.name));
      svg.appendChild(g);
    });
    return svg;
  }

  window.lfCharts = {plot, format};
})();
