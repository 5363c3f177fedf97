// sluice console: one script for every page (no build step). The server returns the same shell for
// /, /explore, /exporters and /reports; this script renders the page `location.pathname` names.
// CSP is strict (script-src 'self', style-src 'self'): no inline handlers, no style attributes in
// markup; every node is built with DOM calls and text goes in as textContent.
(function () {
  'use strict';

  // ---------------------------------------------------------------- DOM helpers

  function el(tag, attrs, children) {
    var n = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === 'text') n.textContent = String(v);
        else if (k === 'class') n.className = v;
        else if (k.slice(0, 2) === 'on' && typeof v === 'function') n.addEventListener(k.slice(2), v);
        else n.setAttribute(k, v === true ? '' : String(v));
      });
    }
    append(n, children);
    return n;
  }

  function append(n, children) {
    if (children === null || children === undefined) return n;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      n.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    });
    return n;
  }

  function clear(n) {
    while (n.firstChild) n.removeChild(n.firstChild);
    return n;
  }

  var main = document.getElementById('main');

  // ---------------------------------------------------------------- numbers

  var PREFIXES = ['', 'k', 'M', 'G', 'T', 'P', 'E'];

  // 1234567 -> "1.23M"; small values keep up to 2 decimals.
  function human(v, base) {
    if (v === null || v === undefined || isNaN(v)) return '–';
    base = base || 1000;
    var neg = v < 0;
    var a = Math.abs(v);
    var i = 0;
    while (a >= base && i < PREFIXES.length - 1) {
      a /= base;
      i++;
    }
    var s;
    if (i === 0 && a === Math.floor(a)) s = String(a);
    else if (a >= 100) s = a.toFixed(0);
    else if (a >= 10) s = a.toFixed(1);
    else s = a.toFixed(2);
    return (neg ? '-' : '') + s + PREFIXES[i];
  }

  function bits(bps) {
    return human(bps) + 'b/s';
  }

  function bytesText(b) {
    return human(b) + 'B';
  }

  function pct(part, whole) {
    if (!whole) return '–';
    var p = (100 * part) / whole;
    return (p >= 10 ? p.toFixed(0) : p.toFixed(1)) + '%';
  }

  // The console's unit for a metric: bytes are shown as bits per second.
  var METRICS = {
    bytes: { title: 'bits/s', rate: function (v) { return bits(v * 8); }, total: bytesText },
    packets: { title: 'packets/s', rate: function (v) { return human(v) + 'p/s'; }, total: function (v) { return human(v) + ' packets'; } },
    flows: { title: 'flows/s', rate: function (v) { return human(v) + ' flows/s'; }, total: function (v) { return human(v) + ' flows'; } },
  };

  function metricOf(m) {
    return METRICS[m] || METRICS.bytes;
  }

  // ---------------------------------------------------------------- time

  var TZ_KEY = 'sluice.utc';
  var utcBox = document.getElementById('utc');
  var tzListeners = [];

  function useUtc() {
    try {
      return localStorage.getItem(TZ_KEY) === '1';
    } catch (e) {
      return false;
    }
  }

  function two(n) {
    return n < 10 ? '0' + n : String(n);
  }

  // Broken-down time of `secs` (Unix) in the zone the user chose.
  function parts(secs) {
    var d = new Date(secs * 1000);
    if (useUtc()) {
      return { y: d.getUTCFullYear(), mo: d.getUTCMonth() + 1, d: d.getUTCDate(), h: d.getUTCHours(), mi: d.getUTCMinutes(), s: d.getUTCSeconds() };
    }
    return { y: d.getFullYear(), mo: d.getMonth() + 1, d: d.getDate(), h: d.getHours(), mi: d.getMinutes(), s: d.getSeconds() };
  }

  function zoneName() {
    if (useUtc()) return 'UTC';
    try {
      return Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
    } catch (e) {
      return 'local time';
    }
  }

  function fmtTime(secs, seconds) {
    if (secs === null || secs === undefined || !isFinite(secs)) return '–';
    var p = parts(secs);
    var s = p.y + '-' + two(p.mo) + '-' + two(p.d) + ' ' + two(p.h) + ':' + two(p.mi);
    if (seconds !== false) s += ':' + two(p.s);
    return s;
  }

  function fmtClock(secs) {
    var p = parts(secs);
    return two(p.h) + ':' + two(p.mi) + ':' + two(p.s);
  }

  function nowSecs() {
    return Math.floor(Date.now() / 1000);
  }

  function ago(secs) {
    if (!secs) return 'never';
    var d = nowSecs() - secs;
    if (d < 0) return 'in ' + dur(-d);
    if (d < 2) return 'just now';
    return dur(d) + ' ago';
  }

  function dur(s) {
    if (s < 60) return Math.round(s) + ' s';
    if (s < 3600) return Math.round(s / 60) + ' min';
    if (s < 86400) return (s / 3600).toFixed(s < 36000 ? 1 : 0) + ' h';
    return (s / 86400).toFixed(s < 864000 ? 1 : 0) + ' d';
  }

  // A <time> element with the absolute time in `title`.
  function timeEl(secs, text) {
    return el('time', {
      datetime: secs ? new Date(secs * 1000).toISOString() : null,
      title: secs ? fmtTime(secs) + ' ' + zoneName() : null,
      text: text !== undefined ? text : fmtTime(secs),
    });
  }

  // "2026-12-01T10:00" for a datetime-local input, in the chosen zone.
  function toLocalInput(secs) {
    var p = parts(secs);
    return p.y + '-' + two(p.mo) + '-' + two(p.d) + 'T' + two(p.h) + ':' + two(p.mi);
  }

  function fromLocalInput(v) {
    var m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(v || '');
    if (!m) return null;
    var a = [+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0)];
    var ms = useUtc() ? Date.UTC(a[0], a[1], a[2], a[3], a[4], a[5]) : new Date(a[0], a[1], a[2], a[3], a[4], a[5]).getTime();
    return Math.floor(ms / 1000);
  }

  // RFC 3339 (UTC) or Unix seconds -> Unix seconds.
  function parseTimeParam(v) {
    if (!v) return null;
    if (/^\d+$/.test(v)) return parseInt(v, 10);
    var ms = Date.parse(v);
    return isNaN(ms) ? null : Math.floor(ms / 1000);
  }

  function rfc3339(secs) {
    return new Date(secs * 1000).toISOString().replace('.000Z', 'Z');
  }

  // uPlot's clock: the chosen zone for chart axes.
  function uplotTz() {
    if (useUtc() && window.uPlot && uPlot.tzDate) {
      return function (ts) {
        return uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC');
      };
    }
    return function (ts) {
      return new Date(ts * 1000);
    };
  }

  if (utcBox) {
    utcBox.checked = useUtc();
    if (utcBox.checked) utcBox.setAttribute('checked', '');
    utcBox.addEventListener('change', function () {
      try {
        localStorage.setItem(TZ_KEY, utcBox.checked ? '1' : '0');
      } catch (e) {
        /* private mode: the toggle lasts for this page */
      }
      if (utcBox.checked) utcBox.setAttribute('checked', '');
      else utcBox.removeAttribute('checked');
      document.body.setAttribute('data-tz', useUtc() ? 'utc' : 'local');
      tzListeners.forEach(function (f) {
        f();
      });
    });
  }
  document.body.setAttribute('data-tz', useUtc() ? 'utc' : 'local');

  function onTz(f) {
    tzListeners.push(f);
  }

  // ---------------------------------------------------------------- API

  function ApiError(status, body, fallback) {
    var e = (body && body.error) || {};
    this.status = status;
    this.param = e.param || null;
    this.message = e.message || fallback || 'HTTP ' + status;
    this.position = typeof e.position === 'number' ? e.position : null;
    this.expected = Array.isArray(e.expected) ? e.expected : [];
  }

  function api(path) {
    return fetch(path, { headers: { Accept: 'application/json' }, credentials: 'same-origin' }).then(
      function (r) {
        return r.text().then(function (t) {
          var body = null;
          try {
            body = t ? JSON.parse(t) : null;
          } catch (e) {
            body = null;
          }
          if (!r.ok) throw new ApiError(r.status, body, (t || '').trim().slice(0, 200));
          if (body === null) throw new ApiError(r.status, null, 'the server answered with no JSON');
          return body;
        });
      },
      function (e) {
        throw new ApiError(0, null, 'the server did not answer (' + (e && e.message ? e.message : 'network error') + ')');
      }
    );
  }

  function errorBox(err, what, id) {
    var msg = err && err.message ? err.message : String(err);
    var hint = '';
    if (err && err.status === 503) hint = 'Not available here: ';
    else if (err && err.status === 502) hint = 'ClickHouse failed: ';
    else if (err && err.status === 401) hint = 'Not signed in: ';
    return el('div', { class: 'error', role: 'alert', id: id || null, 'data-status': err && err.status }, [
      el('strong', { text: what + ' failed. ' }),
      hint + msg,
    ]);
  }

  // ---------------------------------------------------------------- header: nav and health

  var PAGES = { '/': 'overview', '/explore': 'explore', '/exporters': 'exporters', '/reports': 'reports' };
  var path = location.pathname.replace(/\/+$/, '') || '/';
  var page = PAGES[path] || 'notfound';
  document.body.setAttribute('data-page', page);
  Array.prototype.forEach.call(document.querySelectorAll('nav a[data-page]'), function (a) {
    if (a.getAttribute('data-page') === page) {
      a.classList.add('active');
      a.setAttribute('aria-current', 'page');
    }
  });

  function health() {
    var header = document.getElementById('top');
    if (!header) return;
    var pill = document.getElementById('health');
    if (!pill) {
      pill = el('span', { id: 'health', class: 'pill' });
      var tz = header.querySelector('.tz');
      header.insertBefore(pill, tz);
    }
    fetch('/healthz', { credentials: 'same-origin' })
      .then(function (r) {
        return r.json();
      })
      .then(function (h) {
        clear(pill);
        pill.className = 'pill ' + (h.status === 'ok' && h.clickhouse !== 'unreachable' ? 'ok' : 'bad');
        pill.setAttribute('data-clickhouse', h.clickhouse);
        pill.title = 'mode: sluice ' + h.mode + '; ClickHouse: ' + h.clickhouse + '; live feed: ' + (h.live ? 'yes' : 'no');
        append(pill, 'sluice ' + h.mode + ' · ClickHouse ' + h.clickhouse);
      })
      .catch(function () {
        pill.className = 'pill bad';
        pill.textContent = 'server unreachable';
      });
  }

  // ---------------------------------------------------------------- charts

  var COLORS = ['#3b82c4', '#e8743b', '#19a979', '#ed4a7b', '#945ecf', '#13a4b4', '#525df4', '#bf399e',
    '#6c8893', '#ee6868', '#2f6497', '#d3a400', '#5a8f29', '#a0522d', '#00838f', '#7b1fa2'];
  var OTHER_COLOR = '#b8bec6';

  function colorAt(i) {
    return COLORS[i % COLORS.length];
  }

  // A translucent version of a #rrggbb colour.
  function alpha(hex, a) {
    var n = parseInt(hex.slice(1), 16);
    return 'rgba(' + ((n >> 16) & 255) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + a + ')';
  }

  // The width a chart may take inside `node`.
  function widthOf(node, min) {
    var w = node.clientWidth || (node.parentNode && node.parentNode.clientWidth) || 600;
    return Math.max(min || 200, Math.floor(w));
  }

  var charts = [];
  var resizeTimer = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      charts.forEach(function (c) {
        if (c.plot && c.node.isConnected) c.plot.setSize({ width: widthOf(c.node, 120), height: c.height });
      });
    }, 100);
  });

  function track(plot, node, height) {
    charts = charts.filter(function (c) {
      return c.node.isConnected;
    });
    charts.push({ plot: plot, node: node, height: height });
  }

  // ---------------------------------------------------------------- Overview

  var LIVE_TABLES = [
    ['src_addr', 'Top sources'],
    ['dst_addr', 'Top destinations'],
    ['app', 'Top applications'],
    ['protocol', 'Protocols'],
  ];
  // The Explore dimension and filter field of a live dimension, for links.
  var LIVE_TO_FIELD = { src_addr: 'src_addr', dst_addr: 'dst_addr', protocol: 'proto', in_if: 'in_if', out_if: 'out_if', src_as: 'src_as', dst_as: 'dst_as' };

  function overview() {
    var windows = [];
    var liveDims = null;
    var liveError = null;
    var exporters = null;
    var exportersError = null;
    var statsNode = el('section', { class: 'stats', id: 'live-stats', 'aria-label': 'Live rates' });
    var noteNode = el('p', { class: 'note', id: 'live-note' });
    var tablesNode = el('section', { class: 'grid2', id: 'live-tables' });
    var exportersNode = el('section', { class: 'card', id: 'overview-exporters' });
    var sparks = {};
    clear(main);
    append(main, [
      el('div', { class: 'titlebar' }, [el('h1', { text: 'Overview' }), noteNode]),
      statsNode,
      tablesNode,
      exportersNode,
    ]);
    main.setAttribute('data-state', 'live');

    var STATS = [
      ['fps', 'Flows/s', function (v) { return human(v) + '/s'; }],
      ['bps', 'Bits/s', bits],
      ['pps', 'Packets/s', function (v) { return human(v) + 'p/s'; }],
    ];

    STATS.forEach(function (s, i) {
      var value = el('div', { class: 'big', id: 'live-' + s[0], text: '–' });
      var chart = el('div', { class: 'spark' });
      append(statsNode, el('div', { class: 'card stat' }, [el('div', { class: 'label', text: s[1] }), value, chart]));
      sparks[s[0]] = { value: value, chart: chart, plot: null, color: colorAt(i) };
    });

    function drawSparks() {
      var xs = windows.map(function (w) {
        return w.window_start + w.window_secs;
      });
      STATS.forEach(function (s) {
        var sp = sparks[s[0]];
        var last = windows.length ? windows[windows.length - 1] : null;
        sp.value.textContent = last ? s[2](last.rates[s[0]]) : '–';
        sp.value.setAttribute('data-value', last ? String(last.rates[s[0]]) : '');
        var ys = windows.map(function (w) {
          return w.rates[s[0]];
        });
        if (!window.uPlot) return;
        if (xs.length < 2) {
          // One point is no line: say what will appear instead.
          if (!sp.chart.firstChild) append(sp.chart, el('p', { class: 'hint', text: 'the trend appears as windows close' }));
          return;
        }
        if (!sp.plot) clear(sp.chart);
        var data = [xs, ys];
        if (sp.plot) {
          sp.plot.setData(data);
          return;
        }
        var opts = {
          width: widthOf(sp.chart, 120),
          height: 56,
          tzDate: uplotTz(),
          legend: { show: false },
          cursor: { show: false },
          select: { show: false },
          axes: [{ show: false }, { show: false }],
          scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.1 : 1]; } } },
          series: [{}, { stroke: sp.color, fill: alpha(sp.color, 0.15), width: 1.5, points: { show: false } }],
        };
        sp.plot = new uPlot(opts, data, sp.chart);
        track(sp.plot, sp.chart, 56);
      });
    }

    function liveTable(dim, title, w) {
      var d = w && w.dimensions ? w.dimensions[dim] : null;
      var card = el('div', { class: 'card' }, [el('h2', { text: title })]);
      if (!d) {
        var ranked = liveDims === null || liveDims.indexOf(dim) >= 0;
        append(card, el('p', { class: 'empty', id: 'live-' + dim, text: w ? (ranked ? 'No keys in this window.' : 'Not ranked by the collector (add "' + dim + '" to [aggregator] dimensions).') : 'Waiting for the first window…' }));
        return card;
      }
      var secs = Math.max(1, w.window_secs);
      var total = w.total.bytes;
      var tbody = el('tbody');
      d.rows.forEach(function (r, i) {
        var field = LIVE_TO_FIELD[dim];
        var keyCell = field && dim !== 'protocol'
          ? el('a', { href: exploreHref({ dimension: dim === 'src_addr' ? 'dst_addr' : dim === 'dst_addr' ? 'src_addr' : 'proto', filter: field + ' = ' + r.key }), title: 'Explore ' + r.key, text: r.key })
          : r.key;
        var share = total ? r.bytes / total : 0;
        append(tbody, el('tr', { 'data-key': r.key, 'data-rank': i + 1 }, [
          el('td', { class: 'key' }, keyCell),
          el('td', { class: 'lbl', text: r.label || (r.exporter ? 'on ' + r.exporter : '') }),
          el('td', { class: 'num', 'data-bytes': r.bytes, text: bits((r.bytes * 8) / secs) }),
          el('td', { class: 'num share' }, [shareBar(share), pct(r.bytes, total)]),
        ]));
      });
      if (d.other && d.other.bytes > 0) {
        append(tbody, el('tr', { class: 'other' }, [
          el('td', { class: 'key', text: 'other' }),
          el('td', { class: 'lbl' }),
          el('td', { class: 'num', text: bits((d.other.bytes * 8) / secs) }),
          el('td', { class: 'num share' }, [shareBar(total ? d.other.bytes / total : 0), pct(d.other.bytes, total)]),
        ]));
      }
      if (!d.rows.length) {
        append(tbody, el('tr', { class: 'empty' }, el('td', { colspan: 4, text: 'No flows in this window.' })));
      }
      append(card, el('table', { id: 'live-' + dim, class: 'data', 'data-window-start': w.window_start, 'data-window-secs': w.window_secs }, [
        el('thead', null, el('tr', null, [el('th', { text: 'Key' }), el('th', { text: 'Name' }), el('th', { class: 'num', text: 'bits/s' }), el('th', { class: 'num', text: 'Share' })])),
        tbody,
      ]));
      return card;
    }

    // The window the tables show: the newest one that saw flows.
    function shown() {
      for (var i = windows.length - 1; i >= 0; i--) {
        if (windows[i].total && windows[i].total.flows > 0) return windows[i];
      }
      return windows.length ? windows[windows.length - 1] : null;
    }

    function drawTables() {
      var w = shown();
      clear(noteNode);
      if (liveError) {
        append(noteNode, errorBox(liveError, 'The live feed', 'live-error'));
      } else if (!windows.length) {
        append(noteNode, 'Waiting for the collector to close its first window…');
      } else {
        var newest = windows[windows.length - 1];
        append(noteNode, [
          'Window ',
          timeEl(w.window_start, fmtClock(w.window_start)),
          '–',
          timeEl(w.window_start + w.window_secs, fmtClock(w.window_start + w.window_secs)),
          ' (' + w.window_secs + ' s, ' + w.exporters + ' exporter' + (w.exporters === 1 ? '' : 's') + ', ' + zoneName() + ')',
        ]);
        if (newest !== w) append(noteNode, el('span', { class: 'warn-text', text: ' · no flows since then' }));
      }
      clear(tablesNode);
      LIVE_TABLES.forEach(function (t) {
        append(tablesNode, liveTable(t[0], t[1], w));
      });
    }

    var pending = null;
    function schedule() {
      if (pending) return;
      pending = setTimeout(function () {
        pending = null;
        drawSparks();
        drawTables();
      }, 30);
    }

    function drawExporters() {
      clear(exportersNode);
      append(exportersNode, el('div', { class: 'titlebar' }, [
        el('h2', { text: 'Exporters' }),
        el('a', { href: '/exporters', class: 'more', text: 'Details →' }),
      ]));
      if (exportersError) {
        append(exportersNode, errorBox(exportersError, 'Loading exporters'));
        return;
      }
      if (!exporters) {
        append(exportersNode, el('p', { class: 'empty', text: 'Loading…' }));
        return;
      }
      var list = exporters.exporters || [];
      if (!list.length) {
        append(exportersNode, el('p', { class: 'empty', text: 'No exporter has sent anything yet.' }));
        return;
      }
      if (exporters.source !== 'collector') {
        append(exportersNode, genericTable(list, 'overview-exporters-table'));
        return;
      }
      var tbody = el('tbody');
      list.forEach(function (x) {
        var errs = sumErrors(x.errors);
        append(tbody, el('tr', { 'data-key': x.address, class: rowClass(x) }, [
          el('td', { class: 'key' }, exporterName(x)),
          el('td', { text: (x.versions || []).map(versionName).join(', ') }),
          el('td', { class: 'num', text: x.records_per_sec === null ? '–' : human(x.records_per_sec) + '/s' }),
          el('td', { class: 'num' + (x.sequence_lost ? ' bad' : ''), text: human(x.sequence_lost) }),
          el('td', { class: 'num' + (errs ? ' bad' : ''), text: human(errs) }),
          el('td', null, timeEl(x.last_seen, ago(x.last_seen))),
        ]));
      });
      append(exportersNode, el('table', { class: 'data', id: 'overview-exporters-table' }, [
        el('thead', null, el('tr', null, ['Exporter', 'Versions', 'Records/s', 'Sequence lost', 'Errors', 'Last seen'].map(function (h, i) {
          return el('th', { class: i >= 2 && i <= 4 ? 'num' : null, text: h });
        }))),
        tbody,
      ]));
    }

    function loadExporters() {
      api('/api/v1/exporters').then(
        function (x) {
          exporters = x;
          exportersError = null;
          drawExporters();
        },
        function (e) {
          exportersError = e;
          drawExporters();
        }
      );
    }

    drawTables();
    drawExporters();
    api('/api/v1/dimensions').then(function (d) {
      liveDims = d.live_dimensions || [];
      schedule();
    }, function () {});
    loadExporters();
    setTimeout(loadExporters, 1500); // a second sample gives the rates
    setInterval(loadExporters, 10000);

    if (!window.EventSource) {
      liveError = new ApiError(0, null, 'this browser has no EventSource');
      drawTables();
    } else {
      var es = new EventSource('/api/v1/live');
      es.addEventListener('window', function (ev) {
        var w;
        try {
          w = JSON.parse(ev.data);
        } catch (e) {
          return;
        }
        liveError = null;
        windows.push(w);
        if (windows.length > 120) windows.shift();
        main.setAttribute('data-windows', String(windows.length));
        schedule();
      });
      es.addEventListener('error', function () {
        if (es.readyState !== EventSource.CLOSED) return; // reconnecting by itself
        // Closed: the server refused the feed. Ask once more to read why.
        fetch('/api/v1/live', { credentials: 'same-origin' }).then(function (r) {
          if (r.ok) {
            if (r.body && r.body.cancel) r.body.cancel();
            liveError = new ApiError(0, null, 'the connection was lost; reload to reconnect');
            drawTables();
            return;
          }
          return r.json().then(function (b) {
            liveError = new ApiError(r.status, b);
            drawTables();
          });
        }).catch(function () {
          liveError = new ApiError(0, null, 'the server did not answer');
          drawTables();
        });
      });
    }
    onTz(function () {
      sparks.fps.plot = sparks.bps.plot = sparks.pps.plot = null;
      STATS.forEach(function (s) {
        clear(sparks[s[0]].chart);
      });
      drawSparks();
      drawTables();
      drawExporters();
    });
  }

  function shareBar(f) {
    var bar = el('span', { class: 'bar' });
    var fill = el('span');
    fill.style.width = Math.max(0, Math.min(100, f * 100)).toFixed(1) + '%';
    bar.appendChild(fill);
    return bar;
  }

  // ---------------------------------------------------------------- Exporters

  function sumErrors(errors) {
    var n = 0;
    Object.keys(errors || {}).forEach(function (k) {
      n += errors[k] || 0;
    });
    return n;
  }

  function versionName(v) {
    return v === 10 ? 'IPFIX' : v === 5 || v === 9 ? 'v' + v : String(v);
  }

  function rowClass(x) {
    var c = [];
    if (sumErrors(x.errors) || x.sequence_lost) c.push('warn');
    if (x.last_seen && nowSecs() - x.last_seen > 300) c.push('stale');
    return c.join(' ') || null;
  }

  function exporterName(x) {
    return [el('span', { class: 'addr', text: x.address }), x.name && x.name !== x.address ? el('span', { class: 'sub', text: x.name }) : null];
  }

  function skewText(ms) {
    if (ms === null || ms === undefined) return '–';
    var a = Math.abs(ms);
    var s = a < 1000 ? a + ' ms' : a < 60000 ? (a / 1000).toFixed(1) + ' s' : dur(a / 1000);
    return (ms < 0 ? '−' : ms > 0 ? '+' : '') + s;
  }

  function genericTable(rows, id) {
    var keys = [];
    rows.forEach(function (r) {
      Object.keys(r).forEach(function (k) {
        if (keys.indexOf(k) < 0) keys.push(k);
      });
    });
    var tbody = el('tbody');
    rows.forEach(function (r) {
      append(tbody, el('tr', null, keys.map(function (k) {
        var v = r[k];
        var num = typeof v === 'number';
        var text = v === null || v === undefined ? '–' : num ? (/seen|time|_at$/.test(k) && v > 1e9 ? fmtTime(v) : human(v)) : typeof v === 'object' ? JSON.stringify(v) : String(v);
        return el('td', { class: num ? 'num' : null, title: num ? String(v) : null, text: text });
      })));
    });
    return el('div', { class: 'scroll' }, el('table', { class: 'data', id: id || null }, [
      el('thead', null, el('tr', null, keys.map(function (k) {
        return el('th', { text: k.replace(/_/g, ' ') });
      }))),
      tbody,
    ]));
  }

  function exportersPage() {
    var data = null;
    var error = null;
    var body = el('section', { class: 'card', id: 'exporters' });
    var note = el('p', { class: 'note' });
    clear(main);
    append(main, [el('div', { class: 'titlebar' }, [el('h1', { text: 'Exporters' }), note]), body]);
    main.setAttribute('data-state', 'exporters');

    function draw() {
      clear(body);
      clear(note);
      if (error) {
        append(body, errorBox(error, 'Loading exporters', 'exporters-error'));
        return;
      }
      if (!data) {
        append(body, el('p', { class: 'empty', text: 'Loading…' }));
        return;
      }
      var list = data.exporters || [];
      append(note, (data.source === 'collector' ? 'From the collector: counters since it started' : 'From ClickHouse: ' + data.source) + ' · refreshed every 10 s · ' + zoneName());
      if (!list.length) {
        append(body, el('p', { class: 'empty', text: 'No exporter has sent anything yet. Point an exporter at a [listen] address.' }));
        return;
      }
      if (data.source !== 'collector') {
        append(body, genericTable(list, 'exporters-table'));
        return;
      }
      var heads = [
        ['Exporter'], ['Versions'], ['Datagrams/s', 'num'], ['Records/s', 'num'], ['Templates', 'num'],
        ['Sampling'], ['Sequence lost', 'num'], ['Errors'], ['Datagrams', 'num'], ['Records', 'num'],
        ['Clock skew', 'num'], ['First seen'], ['Last seen'],
      ];
      var tbody = el('tbody');
      list.forEach(function (x) {
        var errs = Object.keys(x.errors || {}).filter(function (k) {
          return x.errors[k];
        }).sort();
        var errCell = errs.length
          ? el('ul', { class: 'kinds' }, errs.map(function (k) {
            return el('li', null, [el('span', { class: 'kind', text: k }), ' ', el('span', { class: 'bad', text: human(x.errors[k]) })]);
          }))
          : el('span', { class: 'ok-text', text: 'none' });
        var sampling = x.sampling_rate > 1 ? '1:' + x.sampling_rate : x.sampling_rate === 1 ? 'unsampled' : '–';
        append(tbody, el('tr', { 'data-key': x.address, class: rowClass(x) }, [
          el('td', { class: 'key' }, exporterName(x)),
          el('td', { text: (x.versions || []).map(versionName).join(', ') }),
          el('td', { class: 'num', text: x.datagrams_per_sec === null || x.datagrams_per_sec === undefined ? '–' : human(x.datagrams_per_sec) }),
          el('td', { class: 'num', text: x.records_per_sec === null || x.records_per_sec === undefined ? '–' : human(x.records_per_sec) }),
          el('td', { class: 'num', title: x.options_templates + ' options templates', text: x.templates + (x.options_templates ? ' + ' + x.options_templates + ' opt' : '') }),
          el('td', null, [sampling, x.sampling_source ? el('span', { class: 'sub', text: x.sampling_source }) : null]),
          el('td', { class: 'num' + (x.sequence_lost ? ' bad' : ''), title: String(x.sequence_lost), text: human(x.sequence_lost) }),
          el('td', null, errCell),
          el('td', { class: 'num', title: String(x.datagrams), text: human(x.datagrams) }),
          el('td', { class: 'num', title: String(x.records), text: human(x.records) }),
          el('td', { class: 'num' + (Math.abs(x.clock_skew_ms || 0) > 60000 ? ' bad' : ''), text: skewText(x.clock_skew_ms) }),
          el('td', null, timeEl(x.first_seen, fmtTime(x.first_seen, false))),
          el('td', null, timeEl(x.last_seen, ago(x.last_seen))),
        ]));
      });
      append(body, el('div', { class: 'scroll' }, el('table', { class: 'data compact', id: 'exporters-table' }, [
        el('thead', null, el('tr', null, heads.map(function (h) {
          return el('th', { class: h[1] || null, text: h[0] });
        }))),
        tbody,
      ])));
    }

    function load() {
      api('/api/v1/exporters').then(function (d) {
        data = d;
        error = null;
        draw();
      }, function (e) {
        error = e;
        draw();
      });
    }
    draw();
    load();
    setTimeout(load, 1500);
    setInterval(load, 10000);
    onTz(draw);
  }

  // ---------------------------------------------------------------- Reports

  function lastText(secs) {
    if (!secs) return '–';
    if (secs % 86400 === 0 && secs >= 172800) return secs / 86400 + ' d';
    if (secs % 3600 === 0) return secs / 3600 + ' h';
    if (secs % 60 === 0) return secs / 60 + ' min';
    return secs + ' s';
  }

  function reportsPage() {
    var data = null;
    var error = null;
    var body = el('section', { id: 'reports' });
    clear(main);
    append(main, [el('div', { class: 'titlebar' }, [el('h1', { text: 'Reports' }), el('p', { class: 'note', text: 'Scheduled reports ([[reports]] in the config) and their last runs.' })]), body]);
    main.setAttribute('data-state', 'reports');

    function draw() {
      clear(body);
      if (error) {
        append(body, errorBox(error, 'Loading reports', 'reports-error'));
        return;
      }
      if (!data) {
        append(body, el('p', { class: 'empty', text: 'Loading…' }));
        return;
      }
      var list = data.reports || [];
      if (!list.length) {
        append(body, el('div', { class: 'card' }, el('p', { class: 'empty', text: 'No scheduled reports. Add a [[reports]] section to the config to have sluice write reports on a schedule.' })));
        return;
      }
      list.forEach(function (r) {
        var filters = (r.filters || []).map(function (f) {
          return el('span', { class: 'chip', text: f[0] + ' = ' + f[1] });
        });
        var runs;
        if (!r.runs || !r.runs.length) {
          runs = el('p', { class: 'empty', text: 'No run yet.' });
        } else {
          var tbody = el('tbody');
          r.runs.forEach(function (run) {
            append(tbody, el('tr', null, [
              el('td', null, [timeEl(run.from, fmtTime(run.from, false)), ' – ', timeEl(run.to, fmtTime(run.to, false))]),
              el('td', null, timeEl(run.generated_at, fmtTime(run.generated_at) + ' (' + ago(run.generated_at) + ')')),
              el('td', { class: 'files' }, (run.files || []).map(function (f) {
                var name = f.split('/').pop();
                var ext = name.split('.').pop();
                return el('a', { href: f, target: '_blank', rel: 'noopener', title: name, text: ext.toUpperCase() });
              })),
            ]));
          });
          runs = el('table', { class: 'data' }, [
            el('thead', null, el('tr', null, [el('th', { text: 'Period' }), el('th', { text: 'Generated' }), el('th', { text: 'Files' })])),
            tbody,
          ]);
        }
        append(body, el('article', { class: 'card report', id: 'report-' + r.name, 'data-name': r.name }, [
          el('div', { class: 'titlebar' }, [
            el('h2', { text: r.name }),
            el('a', { class: 'button', href: '/api/v1/reports/' + encodeURIComponent(r.name) + '/run?format=html', target: '_blank', rel: 'noopener', text: 'Run now', title: 'Run over the last ' + lastText(r.last) + ' ending now (opens in a new tab; nothing is saved)' }),
          ]),
          el('dl', { class: 'facts' }, [
            el('dt', { text: 'Kind' }), el('dd', { text: r.kind }),
            el('dt', { text: 'Schedule' }), el('dd', null, [el('code', { text: r.schedule }), ' (' + r.timezone + ')']),
            el('dt', { text: 'Covers' }), el('dd', { text: 'the last ' + lastText(r.last) }),
            filters.length ? el('dt', { text: 'Filters' }) : null, filters.length ? el('dd', null, filters) : null,
          ]),
          el('h3', { text: 'Last runs' }),
          runs,
        ]));
      });
    }
    draw();
    api('/api/v1/reports').then(function (d) {
      data = d;
      draw();
    }, function (e) {
      error = e;
      draw();
    });
    onTz(draw);
  }

  // ---------------------------------------------------------------- Explore

  var RANGES = [['15m', 900], ['1h', 3600], ['6h', 21600], ['24h', 86400], ['7d', 604800]];
  var STEPS = [['', 'auto'], ['10s', '10 s'], ['1m', '1 min'], ['5m', '5 min'], ['15m', '15 min'], ['1h', '1 h'], ['1d', '1 day']];
  var DEFAULTS = { dimension: 'src_addr', range: '1h', metric: 'bytes', limit: '10', step: '', filter: '', chart: 'stacked' };

  function rangeSecs(r) {
    for (var i = 0; i < RANGES.length; i++) if (RANGES[i][0] === r) return RANGES[i][1];
    return null;
  }

  function exploreHref(s) {
    var q = new URLSearchParams();
    Object.keys(s).forEach(function (k) {
      if (s[k]) q.set(k, s[k]);
    });
    return '/explore?' + q.toString();
  }

  function readState() {
    var q = new URLSearchParams(location.search);
    var s = {};
    Object.keys(DEFAULTS).forEach(function (k) {
      s[k] = q.has(k) ? q.get(k) : DEFAULTS[k];
    });
    s.from = parseTimeParam(q.get('from'));
    s.to = parseTimeParam(q.get('to'));
    if (s.from !== null && s.to !== null) s.range = 'custom';
    else if (!rangeSecs(s.range)) s.range = DEFAULTS.range;
    if (['bytes', 'packets', 'flows'].indexOf(s.metric) < 0) s.metric = DEFAULTS.metric;
    if (s.chart !== 'lines') s.chart = 'stacked';
    return s;
  }

  // The URL of a state: only what differs from the defaults, custom ranges as RFC 3339.
  function stateQuery(s) {
    var q = new URLSearchParams();
    q.set('dimension', s.dimension);
    if (s.range === 'custom') {
      q.set('from', rfc3339(s.from));
      q.set('to', rfc3339(s.to));
    } else {
      q.set('range', s.range);
    }
    if (s.filter) q.set('filter', s.filter);
    q.set('metric', s.metric);
    q.set('limit', s.limit);
    if (s.step) q.set('step', s.step);
    q.set('chart', s.chart);
    return q.toString();
  }

  function explore() {
    var state = readState();
    var dims = null;
    var answer = null;
    var plot = null;

    var form = el('form', { class: 'controls card', id: 'explore-form', autocomplete: 'off' });
    var dimSel = el('select', { id: 'dimension', name: 'dimension', 'aria-label': 'Dimension' });
    var metricSel = el('select', { id: 'metric', name: 'metric', 'aria-label': 'Metric' }, [
      el('option', { value: 'bytes', text: 'bits/s' }),
      el('option', { value: 'packets', text: 'packets/s' }),
      el('option', { value: 'flows', text: 'flows/s' }),
    ]);
    var limitIn = el('input', { id: 'limit', name: 'limit', type: 'number', min: 1, max: 1000, step: 1, 'aria-label': 'Top N' });
    var stepSel = el('select', { id: 'step', name: 'step', 'aria-label': 'Step' }, STEPS.map(function (s) {
      return el('option', { value: s[0], text: s[1] });
    }));
    var chartSel = el('select', { id: 'chart', name: 'chart', 'aria-label': 'Chart' }, [
      el('option', { value: 'stacked', text: 'stacked' }),
      el('option', { value: 'lines', text: 'lines' }),
    ]);
    var rangeBox = el('div', { class: 'ranges', role: 'group', 'aria-label': 'Time range' });
    var rangeButtons = {};
    RANGES.concat([['custom', 0]]).forEach(function (r) {
      var b = el('button', { type: 'button', class: 'seg', 'data-range': r[0], text: r[0] });
      b.addEventListener('click', function () {
        if (r[0] === 'custom') {
          if (state.range !== 'custom') {
            var to = nowSecs();
            state.to = to - (to % 60);
            state.from = state.to - (rangeSecs(state.range) || 3600);
          }
          state.range = 'custom';
        } else {
          state.range = r[0];
          state.from = state.to = null;
        }
        changed();
      });
      rangeButtons[r[0]] = b;
      rangeBox.appendChild(b);
    });
    var fromIn = el('input', { id: 'from', name: 'from', type: 'datetime-local', 'aria-label': 'From' });
    var toIn = el('input', { id: 'to', name: 'to', type: 'datetime-local', 'aria-label': 'To' });
    var customBox = el('div', { class: 'custom' }, [el('label', null, ['from ', fromIn]), el('label', null, ['to ', toIn])]);
    var filterIn = el('input', { id: 'filter', name: 'filter', type: 'text', spellcheck: 'false', placeholder: 'filter, e.g. src_addr = 10.0.0.0/8 and proto = tcp and not dst_port in (53, 123)', 'aria-label': 'Filter', 'aria-describedby': 'filter-error' });
    var applyBtn = el('button', { type: 'submit', class: 'primary', text: 'Apply' });
    var filterErr = el('div', { id: 'filter-error', class: 'filter-error', role: 'alert', hidden: true });

    append(form, [
      el('div', { class: 'row' }, [
        el('label', null, ['Dimension ', dimSel]),
        el('label', null, ['Metric ', metricSel]),
        el('label', null, ['Top ', limitIn]),
        el('label', null, ['Step ', stepSel]),
        el('label', null, ['Chart ', chartSel]),
      ]),
      el('div', { class: 'row' }, [rangeBox, customBox]),
      el('div', { class: 'row filter-row' }, [filterIn, applyBtn]),
      filterErr,
    ]);

    var heading = el('h1', { id: 'explore-title', text: 'Explore' });
    var summary = el('p', { class: 'note', id: 'explore-summary' });
    var errNode = el('div', { id: 'explore-errors' });
    var chartNode = el('div', { class: 'chart', id: 'series-chart' });
    var readout = el('p', { class: 'readout', id: 'cursor-readout' });
    var tableNode = el('div', { id: 'series-table' });
    clear(main);
    append(main, [
      el('div', { class: 'titlebar' }, [heading, summary]),
      form,
      errNode,
      el('section', { class: 'card chart-card' }, [chartNode, readout]),
      el('section', { class: 'card' }, tableNode),
    ]);

    function dimTitle(name) {
      if (dims) {
        for (var i = 0; i < dims.length; i++) if (dims[i].name === name) return dims[i].title;
      }
      return name;
    }

    function selectValue(sel, v) {
      var found = false;
      Array.prototype.forEach.call(sel.options, function (o) {
        var on = o.value === v;
        o.selected = on;
        o.defaultSelected = on; // the attribute, so a saved DOM shows the choice
        if (on) found = true;
      });
      if (!found && v) {
        var o = el('option', { value: v, text: v, selected: true });
        sel.appendChild(o);
        o.selected = true;
      }
    }

    // Controls, heading and <main data-*> from the state.
    function sync() {
      selectValue(dimSel, state.dimension);
      selectValue(metricSel, state.metric);
      selectValue(stepSel, state.step);
      selectValue(chartSel, state.chart);
      limitIn.value = state.limit;
      limitIn.setAttribute('value', state.limit);
      filterIn.value = state.filter;
      filterIn.setAttribute('value', state.filter);
      Object.keys(rangeButtons).forEach(function (k) {
        var on = k === state.range;
        rangeButtons[k].classList.toggle('on', on);
        rangeButtons[k].setAttribute('aria-pressed', on ? 'true' : 'false');
      });
      customBox.hidden = state.range !== 'custom';
      if (state.range === 'custom') {
        fromIn.value = toLocalInput(state.from);
        toIn.value = toLocalInput(state.to);
        fromIn.setAttribute('value', fromIn.value);
        toIn.setAttribute('value', toIn.value);
      }
      var m = metricOf(state.metric);
      var when = state.range === 'custom' ? fmtTime(state.from, false) + ' – ' + fmtTime(state.to, false) : 'last ' + state.range;
      heading.textContent = dimTitle(state.dimension) + ' by ' + m.title + ', ' + when;
      var qs = stateQuery(state);
      main.setAttribute('data-state', qs);
      ['dimension', 'metric', 'limit', 'range', 'step', 'chart', 'filter'].forEach(function (k) {
        main.setAttribute('data-' + k, state[k] || '');
      });
      document.title = dimTitle(state.dimension) + ' · Explore · sluice';
      return qs;
    }

    function changed() {
      var qs = sync();
      history.replaceState(null, '', '/explore?' + qs);
      load();
    }

    dimSel.addEventListener('change', function () {
      state.dimension = dimSel.value;
      changed();
    });
    metricSel.addEventListener('change', function () {
      state.metric = metricSel.value;
      changed();
    });
    stepSel.addEventListener('change', function () {
      state.step = stepSel.value;
      changed();
    });
    chartSel.addEventListener('change', function () {
      state.chart = chartSel.value;
      var qs = sync();
      history.replaceState(null, '', '/explore?' + qs);
      draw(); // same data, other drawing
    });
    limitIn.addEventListener('change', function () {
      var n = parseInt(limitIn.value, 10);
      if (!(n >= 1 && n <= 1000)) n = 10;
      state.limit = String(n);
      changed();
    });
    function customChanged() {
      var f = fromLocalInput(fromIn.value);
      var t = fromLocalInput(toIn.value);
      if (f === null || t === null) return;
      state.from = f;
      state.to = t;
      state.range = 'custom';
      changed();
    }
    fromIn.addEventListener('change', customChanged);
    toIn.addEventListener('change', customChanged);
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      state.filter = filterIn.value.trim();
      changed();
    });

    function showFilterError(e, text) {
      clear(filterErr);
      filterErr.hidden = false;
      filterIn.setAttribute('aria-invalid', 'true');
      filterErr.setAttribute('data-position', e.position === null ? '' : String(e.position));
      append(filterErr, el('p', { class: 'msg' }, [el('strong', { text: 'Filter: ' }), e.message]));
      if (e.position !== null) {
        var chars = Array.from(text);
        var pos = Math.min(e.position, chars.length);
        var at = chars[pos] === undefined ? ' ' : chars[pos];
        var pre = el('pre', { class: 'caret', 'aria-label': 'where the filter is wrong' }, [
          el('span', { text: chars.slice(0, pos).join('') }),
          el('mark', { text: at }),
          el('span', { text: chars.slice(pos + 1).join('') }),
          '\n' + ' '.repeat(pos) + '^ character ' + e.position,
        ]);
        append(filterErr, pre);
      }
      if (e.expected.length) append(filterErr, el('p', { class: 'expected', text: 'Expected: ' + e.expected.join(', ') }));
    }

    function clearErrors() {
      clear(filterErr);
      filterErr.hidden = true;
      filterIn.removeAttribute('aria-invalid');
      clear(errNode);
    }

    var seq = 0;
    function load() {
      var my = ++seq;
      clearErrors();
      var q = new URLSearchParams();
      q.set('dimension', state.dimension);
      var to, from;
      if (state.range === 'custom') {
        from = state.from;
        to = state.to;
      } else {
        to = nowSecs();
        from = to - rangeSecs(state.range);
      }
      q.set('from', String(from));
      q.set('to', String(to));
      q.set('metric', state.metric);
      q.set('limit', state.limit);
      if (state.step) q.set('step', state.step);
      if (state.filter) q.set('filter', state.filter);
      main.setAttribute('data-loaded', 'loading');
      summary.textContent = 'Loading…';
      api('/api/v1/series?' + q.toString()).then(function (a) {
        if (my !== seq) return;
        answer = a;
        draw();
        main.setAttribute('data-loaded', 'series');
      }, function (e) {
        if (my !== seq) return;
        answer = null;
        draw();
        summary.textContent = '';
        if (e.param === 'filter') showFilterError(e, state.filter);
        else append(errNode, errorBox(e, 'Loading the series' + (e.param ? ' (' + e.param + ')' : ''), 'explore-error'));
        main.setAttribute('data-loaded', 'error');
      });
    }

    function seriesList(a) {
      var list = a.series.map(function (s, i) {
        return { key: s.key, label: s.label, values: s.values, avg: s.avg, max: s.max, p95: s.p95, total: s.total, color: colorAt(i) };
      });
      var os = a.other_stats;
      if (os && os.total > 0) {
        list.push({ key: 'other', label: null, values: a.other, avg: os.avg, max: os.max, p95: os.p95, total: os.total, color: OTHER_COLOR, other: true });
      }
      return list;
    }

    function draw() {
      if (plot) {
        plot.destroy();
        plot = null;
      }
      clear(chartNode);
      clear(tableNode);
      clear(readout);
      if (!answer) {
        append(chartNode, el('p', { class: 'empty', text: 'No chart.' }));
        return;
      }
      var a = answer;
      var m = metricOf(a.metric);
      var scale = a.metric === 'bytes' ? 8 : 1;
      var list = seriesList(a);
      summary.textContent = '';
      append(summary, [
        timeEl(a.from, fmtTime(a.from, false)), ' – ', timeEl(a.to, fmtTime(a.to, false)),
        ' ' + zoneName() + ' · step ' + dur(a.step) + ' · from ' + a.source + (a.filter ? ' · filter: ' : ''),
        a.filter ? el('code', { id: 'canonical-filter', text: a.filter }) : null,
      ]);

      if (!list.length || !a.time.length) {
        append(chartNode, el('p', { class: 'empty', id: 'no-data', text: 'No flows in this range' + (a.filter ? ' matching the filter' : '') + '. Try a longer range or another filter.' }));
      } else {
        var data = [a.time.slice()];
        var stacked = state.chart === 'stacked';
        var shown = list.map(function (s) {
          return s.values.map(function (v) {
            return v * scale;
          });
        });
        var series = [{}];
        if (stacked) {
          // Cumulative sums, drawn from the top layer down so each fill covers the one below.
          var cum = [];
          var acc = a.time.map(function () {
            return 0;
          });
          shown.forEach(function (vals) {
            acc = acc.map(function (x, j) {
              return x + vals[j];
            });
            cum.push(acc.slice());
          });
          for (var i = list.length - 1; i >= 0; i--) {
            data.push(cum[i]);
            series.push({ label: list[i].key, stroke: list[i].color, width: 1, fill: alpha(list[i].color, 0.9), points: { show: false } });
          }
        } else {
          list.forEach(function (s, i) {
            data.push(shown[i]);
            series.push({ label: s.key, stroke: s.color, width: 1.5, points: { show: false } });
          });
        }
        var yFmt = function (u, vals) {
          return vals.map(function (v) {
            return a.metric === 'bytes' ? human(v) + 'b/s' : human(v) + '/s';
          });
        };
        // Axis labels in the chosen zone, 24-hour clock; the date where a label starts a day, or
        // on every label of ranges longer than two days.
        var long = a.to - a.from > 2 * 86400;
        var xFmt = function (u, splits) {
          var lastDay = null;
          var fine = splits.length > 1 && splits[1] - splits[0] < 60;
          return splits.map(function (t) {
            var p = parts(t);
            var day = p.y + '-' + two(p.mo) + '-' + two(p.d);
            var clock = two(p.h) + ':' + two(p.mi) + (fine ? ':' + two(p.s) : '');
            var text = long ? two(p.mo) + '-' + two(p.d) + ' ' + clock : day !== lastDay && lastDay !== null ? day + '\n' + clock : clock;
            if (lastDay === null && !long) text = clock + '\n' + day;
            lastDay = day;
            return text;
          });
        };
        var height = 320;
        var opts = {
          width: widthOf(chartNode, 300),
          height: height,
          tzDate: uplotTz(),
          legend: { show: false },
          cursor: { drag: { x: false, y: false } },
          scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.05 : 1]; } } },
          axes: [
            { stroke: '#555', grid: { stroke: '#eee' }, values: xFmt, space: 70 },
            { stroke: '#555', grid: { stroke: '#eee' }, values: yFmt, size: 70 },
          ],
          series: series,
          hooks: {
            setCursor: [function (u) {
              var idx = u.cursor.idx;
              clear(readout);
              if (idx === null || idx === undefined) return;
              append(readout, [el('strong', { text: fmtTime(a.time[idx], true) }), ' ']);
              list.forEach(function (s) {
                append(readout, el('span', { class: 'rd' }, [swatch(s.color), s.key + ' ' + m.rate(s.values[idx])]));
              });
            }],
          },
        };
        plot = new uPlot(opts, data, chartNode);
        track(plot, chartNode, height);
      }

      // One row per series: avg, max, 95th percentile (rates) and total.
      var tbody = el('tbody');
      list.forEach(function (s, i) {
        append(tbody, el('tr', { 'data-key': s.key, class: s.other ? 'other' : null }, [
          el('td', { class: 'sw' }, swatch(s.color)),
          el('td', { class: 'rank', text: s.other ? '' : String(i + 1) }),
          el('td', { class: 'key' }, s.other ? s.key : el('a', { href: exploreHref(Object.assign({}, state, { from: state.range === 'custom' ? rfc3339(state.from) : null, to: state.range === 'custom' ? rfc3339(state.to) : null, range: state.range === 'custom' ? null : state.range, filter: addFilter(state.filter, a.dimension, s.key) })), title: 'Only ' + s.key, text: s.key })),
          el('td', { class: 'lbl', text: s.label || '' }),
          el('td', { class: 'num', text: m.rate(s.avg) }),
          el('td', { class: 'num', text: m.rate(s.max) }),
          el('td', { class: 'num', text: m.rate(s.p95) }),
          el('td', { class: 'num', title: String(s.total), text: m.total(s.total) }),
          el('td', { class: 'num', text: pct(s.total, a.total_stats.total) }),
        ]));
      });
      if (!list.length) append(tbody, el('tr', { class: 'empty' }, el('td', { colspan: 9, text: 'No data.' })));
      var tfoot = el('tfoot', null, el('tr', { class: 'total' }, [
        el('td'), el('td'), el('td', { class: 'key', text: 'Total' }), el('td'),
        el('td', { class: 'num', text: m.rate(a.total_stats.avg) }),
        el('td', { class: 'num', text: m.rate(a.total_stats.max) }),
        el('td', { class: 'num', text: m.rate(a.total_stats.p95) }),
        el('td', { class: 'num', title: String(a.total_stats.total), text: m.total(a.total_stats.total) }),
        el('td', { class: 'num', text: a.total_stats.total ? '100%' : '–' }),
      ]));
      append(tableNode, el('table', { class: 'data', id: 'series', 'data-dimension': a.dimension, 'data-metric': a.metric }, [
        el('thead', null, el('tr', null, [
          el('th'), el('th', { text: '#' }), el('th', { text: dimTitle(a.dimension) }), el('th', { text: 'Name' }),
          el('th', { class: 'num', text: 'Average' }), el('th', { class: 'num', text: 'Max' }),
          el('th', { class: 'num', text: '95th pct' }), el('th', { class: 'num', text: 'Total' }), el('th', { class: 'num', text: 'Share' }),
        ])),
        tbody,
        tfoot,
      ]));
    }

    function addFilter(f, dim, key) {
      var v = /^[A-Za-z0-9_.:\/-]+$/.test(key) ? key : '"' + key.replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
      var c = dim + ' = ' + v;
      return f ? '(' + f + ') and ' + c : c;
    }

    sync();
    history.replaceState(null, '', '/explore?' + stateQuery(state));
    api('/api/v1/dimensions').then(function (d) {
      dims = d.dimensions || [];
      clear(dimSel);
      dims.forEach(function (x) {
        append(dimSel, el('option', { value: x.name, title: x.name + ' (' + x.type + ')', text: x.title }));
      });
      sync();
      load();
    }, function (e) {
      append(errNode, errorBox(e, 'Loading the dimensions'));
      sync();
      load();
    });
    onTz(function () {
      sync();
      draw();
    });
  }

  function swatch(color) {
    var s = el('span', { class: 'swatch' });
    s.style.background = color;
    return s;
  }

  // ---------------------------------------------------------------- start

  health();
  if (page === 'overview') overview();
  else if (page === 'explore') explore();
  else if (page === 'exporters') exportersPage();
  else if (page === 'reports') reportsPage();
  else {
    clear(main);
    append(main, [el('h1', { text: 'Not found' }), el('p', null, ['No page here. ', el('a', { href: '/', text: 'Overview' })])]);
  }
})();
