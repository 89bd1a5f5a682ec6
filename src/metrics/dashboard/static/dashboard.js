/* Live dashboard: polls the same-origin JSON endpoints (with the browser's credentials, so METRICS_TOKEN basic auth
 * keeps working), keeps a short history for the charts, and shows a "disconnected" banner while polling fails.
 * Only totals are fetched and drawn, so the page costs the same with 10 or 10,000 sockets.
 * A range selector swaps the charts to /metrics/history (1 h … 30 d) with alert transitions marked on them; the
 * tiles, alerts and cluster panels stay live whatever the range. The range is kept in the URL hash. */
(function () {
  'use strict';

  var params = new URLSearchParams(window.location.search);
  var REFRESH_MS = clamp(Number(params.get('refresh')) || 5000, 1000, 60000);
  var MAX_POINTS = 120; // 10 minutes at the default refresh
  var lastOk = null;
  var timer = null;

  function clamp(n, lo, hi) {
    return Math.min(hi, Math.max(lo, n));
  }

  function get(obj, path) {
    return path.split('.').reduce(function (o, k) {
      return o === undefined || o === null ? undefined : o[k];
    }, obj);
  }

  function fmtNumber(n) {
    if (typeof n !== 'number' || !isFinite(n)) return '–';
    if (Math.abs(n) >= 1000) return Math.round(n).toLocaleString('en-US');
    if (Number.isInteger(n)) return String(n);
    return n.toFixed(Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2);
  }

  function fmtDuration(seconds) {
    var s = Math.floor(seconds);
    var d = Math.floor(s / 86400);
    var h = Math.floor((s % 86400) / 3600);
    var m = Math.floor((s % 3600) / 60);
    if (d > 0) return d + 'd ' + h + 'h';
    if (h > 0) return h + 'h ' + m + 'm';
    return m + 'm ' + (s % 60) + 's';
  }

  function plural(n, word) {
    return fmtNumber(n) + ' ' + word + (n === 1 ? '' : 's');
  }

  function clockTime(date) {
    return date.toLocaleTimeString('en-GB', { hour12: false });
  }

  function mb(text) {
    var n = parseFloat(String(text));
    return isFinite(n) ? n : null;
  }

  // ---- charts -------------------------------------------------------------------------------------------------
  var css = getComputedStyle(document.documentElement);
  var colors = {
    text: css.getPropertyValue('--muted').trim() || '#8b949e',
    label: css.getPropertyValue('--text').trim() || '#e6edf3',
    grid: css.getPropertyValue('--border').trim() || '#30363d',
    blue: '#58a6ff',
    green: '#3fb950',
    purple: '#bc8cff',
    orange: '#d29922',
    red: '#f85149',
  };
  Chart.defaults.color = colors.text;
  Chart.defaults.borderColor = colors.grid;
  Chart.defaults.font.size = 11;

  /* The history ranges: how far back, and where the time axis puts its ticks (local time, like the rest of the
   * page). Bucket widths come from the server. */
  var RANGES = {
    '1h': { ms: 3600000, unit: 'minute', step: 10, maxTicks: 7 },
    '24h': { ms: 86400000, unit: 'hour', step: 3, maxTicks: 9 },
    '7d': { ms: 604800000, unit: 'day', step: 1, maxTicks: 8 },
    '30d': { ms: 2592000000, unit: 'day', step: 1, maxTicks: 8 },
  };
  var LIVE = 'live';

  function severityColor(severity) {
    if (severity === 'critical') return colors.red;
    if (severity === 'warning') return colors.orange;
    return colors.blue; // back to ok: resolved
  }

  function pad2(n) {
    return n < 10 ? '0' + n : String(n);
  }

  function hhmm(d) {
    return pad2(d.getHours()) + ':' + pad2(d.getMinutes());
  }

  function dayMonth(d) {
    return d.toLocaleDateString('en-GB', { day: '2-digit', month: 'short' });
  }

  function dateTime(d) {
    return dayMonth(d) + ' ' + hhmm(d);
  }

  /** Tick values between min and max on local-time boundaries (every 10 min, 3 h, day…), at most spec.maxTicks. */
  function timeTicks(min, max, spec) {
    var d = new Date(min);
    d.setSeconds(0, 0);
    if (spec.unit === 'minute') d.setMinutes(Math.floor(d.getMinutes() / spec.step) * spec.step);
    if (spec.unit === 'hour') d.setHours(Math.floor(d.getHours() / spec.step) * spec.step, 0);
    if (spec.unit === 'day') d.setHours(0, 0);
    var ticks = [];
    for (var guard = 0; d.getTime() <= max && guard < 1000; guard++) {
      if (d.getTime() >= min) ticks.push(d.getTime());
      if (spec.unit === 'minute') d.setMinutes(d.getMinutes() + spec.step);
      else if (spec.unit === 'hour') d.setHours(d.getHours() + spec.step);
      else d.setDate(d.getDate() + spec.step);
    }
    var stride = Math.max(1, Math.ceil(ticks.length / spec.maxTicks));
    return ticks.filter(function (_, i) {
      return i % stride === 0;
    });
  }

  function tickLabel(value, range) {
    var d = new Date(value);
    if (range === '1h') return hhmm(d);
    if (range === '24h') return d.getHours() === 0 && d.getMinutes() === 0 ? dayMonth(d) : hhmm(d);
    if (range === '7d') return d.toLocaleDateString('en-GB', { weekday: 'short', day: '2-digit' });
    return dayMonth(d);
  }

  function liveXScale() {
    return { type: 'category', ticks: { maxTicksLimit: 6, maxRotation: 0 } };
  }

  function historyXScale(range, from, to) {
    return {
      type: 'linear',
      min: from,
      max: to,
      afterBuildTicks: function (scale) {
        scale.ticks = timeTicks(from, to, RANGES[range]).map(function (v) {
          return { value: v };
        });
      },
      ticks: {
        autoSkip: false,
        maxRotation: 0,
        callback: function (value) {
          return tickLabel(value, range);
        },
      },
    };
  }

  /* Alert transitions as dashed vertical lines coloured by the state entered (critical red, warning orange,
   * resolved blue), with a small flag on top; hovering near one writes its message over the chart. Drawn by this
   * small plugin rather than a package, so nothing but Chart.js itself is loaded. For tests and scripts, each
   * canvas carries data-alert-marks (how many lines are drawn) and chart.$alertMarksDrawn (where). */
  function markText(m) {
    return (
      dateTime(new Date(m.t)) +
      ' · ' +
      m.key +
      ' ' +
      m.from +
      ' → ' +
      m.to +
      (m.message ? ': ' + m.message : '')
    );
  }

  var alertMarkers = {
    id: 'alertMarkers',
    afterDatasetsDraw: function (chart) {
      var marks = chart.$alertMarks || [];
      var x = chart.scales.x;
      var drawn = [];
      if (marks.length > 0 && x && x.type === 'linear') {
        var area = chart.chartArea;
        var ctx = chart.ctx;
        ctx.save();
        marks.forEach(function (m) {
          var px = x.getPixelForValue(m.t);
          if (!(px >= area.left - 0.5 && px <= area.right + 0.5)) return;
          var hovered = chart.$alertHover === m;
          ctx.strokeStyle = severityColor(m.to);
          ctx.fillStyle = severityColor(m.to);
          ctx.lineWidth = hovered ? 2.5 : 1.5;
          ctx.setLineDash(hovered ? [] : [4, 3]);
          ctx.beginPath();
          ctx.moveTo(px, area.top);
          ctx.lineTo(px, area.bottom);
          ctx.stroke();
          ctx.beginPath();
          ctx.moveTo(px - 4, area.top);
          ctx.lineTo(px + 4, area.top);
          ctx.lineTo(px, area.top + 6);
          ctx.closePath();
          ctx.fill();
          drawn.push({ t: m.t, x: px, key: m.key, to: m.to });
        });
        var hover = chart.$alertHover;
        if (
          hover &&
          drawn.some(function (d) {
            return d.t === hover.t;
          })
        )
          drawHoverLabel(chart, hover);
        ctx.restore();
      }
      chart.$alertMarksDrawn = drawn;
      chart.canvas.setAttribute('data-alert-marks', String(drawn.length));
    },
    afterEvent: function (chart, args) {
      var e = args.event;
      var hit = null;
      if (e.type === 'mousemove' && args.inChartArea) {
        var best = 6; // px either side of a line
        (chart.$alertMarks || []).forEach(function (m) {
          var dx = Math.abs(chart.scales.x.getPixelForValue(m.t) - e.x);
          if (chart.scales.x.type === 'linear' && dx <= best) {
            best = dx;
            hit = m;
          }
        });
      }
      if (hit !== (chart.$alertHover || null)) {
        chart.$alertHover = hit;
        chart.canvas.title = hit ? markText(hit) : '';
        args.changed = true;
      }
    },
  };

  function drawHoverLabel(chart, m) {
    var ctx = chart.ctx;
    var area = chart.chartArea;
    var text = markText(m);
    ctx.font = '11px ' + Chart.defaults.font.family;
    ctx.setLineDash([]);
    var maxWidth = area.right - area.left - 8;
    while (text.length > 4 && ctx.measureText(text).width > maxWidth) text = text.slice(0, -2);
    if (text !== markText(m)) text = text.slice(0, -1) + '…';
    var w = ctx.measureText(text).width + 8;
    var px = chart.scales.x.getPixelForValue(m.t);
    var left = Math.min(Math.max(area.left, px - w / 2), area.right - w);
    ctx.fillStyle = 'rgba(13, 17, 23, 0.92)';
    ctx.strokeStyle = severityColor(m.to);
    ctx.lineWidth = 1;
    ctx.fillRect(left, area.top + 8, w, 18);
    ctx.strokeRect(left, area.top + 8, w, 18);
    ctx.fillStyle = colors.label;
    ctx.textBaseline = 'middle';
    ctx.fillText(text, left + 4, area.top + 17);
  }

  /* A point is drawn as a dot when it stands alone between gaps (a line needs two), or when there are few. */
  function historyPointRadius(ctx) {
    var data = ctx.dataset.data;
    var gap = ctx.chart.$maxGap;
    var i = ctx.dataIndex;
    if (!data[i] || typeof gap !== 'number') return 0;
    if (data.length <= 60) return 2;
    var before = i === 0 || data[i].x - data[i - 1].x > gap;
    var after = i === data.length - 1 || data[i + 1].x - data[i].x > gap;
    return before && after ? 2 : 0;
  }

  function lineChart(id, series) {
    return new Chart(document.getElementById(id), {
      type: 'line',
      data: {
        labels: [],
        datasets: series.map(function (s) {
          return {
            label: s.label,
            data: [],
            borderColor: s.color,
            backgroundColor: s.color,
            borderWidth: 2,
            pointRadius: 0,
            tension: 0.2,
          };
        }),
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: 'index', intersect: false },
        plugins: {
          legend: { display: series.length > 1, labels: { boxWidth: 10 } },
          tooltip: {
            callbacks: {
              title: function (items) {
                if (!items.length) return '';
                var x = items[0].chart.scales.x;
                return x.type === 'linear' ? dateTime(new Date(items[0].parsed.x)) : items[0].label;
              },
            },
          },
        },
        scales: {
          x: liveXScale(),
          y: { beginAtZero: true, ticks: { maxTicksLimit: 5 } },
        },
      },
      plugins: [alertMarkers],
    });
  }

  function megabytes(bytes) {
    return typeof bytes === 'number' && isFinite(bytes)
      ? Math.round((bytes / 1024 / 1024) * 100) / 100
      : null;
  }

  /* Each chart reads its series from a /metrics answer (live) or from a /metrics/history point. */
  var charts = [
    {
      chart: lineChart('chart-connections', [{ label: 'connections', color: colors.blue }]),
      values: function (m) {
        return [m.websocket.totalConnections];
      },
      history: function (p) {
        return [p.connections];
      },
    },
    {
      chart: lineChart('chart-memory', [
        { label: 'RSS', color: colors.purple },
        { label: 'heap used', color: colors.green },
      ]),
      values: function (m) {
        return [mb(m.system.memory.rss), mb(m.system.memory.heapUsed)];
      },
      history: function (p) {
        return [megabytes(p.rss), megabytes(p.heapUsed)];
      },
    },
    {
      chart: lineChart('chart-events', [{ label: 'events/s', color: colors.green }]),
      values: function (m) {
        return [m.websocket.eventsPerSecond];
      },
      history: function (p) {
        return [p.eventsPerSecond];
      },
    },
    {
      chart: lineChart('chart-latency', [{ label: 'p95 ms', color: colors.orange }]),
      values: function (m) {
        return [m.websocket.latency.p95];
      },
      history: function (p) {
        return [p.wsLatencyP95];
      },
    },
    {
      chart: lineChart('chart-errors', [{ label: 'error %', color: colors.red }]),
      values: function (m) {
        return [m.http.errorRate];
      },
      history: function (p) {
        return [p.httpErrorRate];
      },
    },
  ];

  /* The live series are kept whatever range is shown, so going back to Live shows the last minutes at once. */
  var live = charts.map(function (c) {
    return {
      labels: [],
      series: c.chart.data.datasets.map(function () {
        return [];
      }),
    };
  });

  function pushPoint(m, label) {
    charts.forEach(function (c, n) {
      var buffer = live[n];
      buffer.labels.push(label);
      c.values(m).forEach(function (v, i) {
        buffer.series[i].push(v);
      });
      if (buffer.labels.length > MAX_POINTS) {
        buffer.labels.shift();
        buffer.series.forEach(function (s) {
          s.shift();
        });
      }
    });
    if (selected.range === LIVE) showLiveCharts();
  }

  function showLiveCharts() {
    charts.forEach(function (c, n) {
      var chart = c.chart;
      if (chart.options.scales.x.type !== 'category') chart.options.scales.x = liveXScale();
      chart.$alertMarks = [];
      chart.$alertHover = null;
      chart.data.labels = live[n].labels.slice();
      chart.data.datasets.forEach(function (d, i) {
        d.data = live[n].series[i].slice();
        d.spanGaps = false;
        d.pointRadius = 0;
      });
      chart.update('none');
    });
  }

  /* History points as {x: epoch ms, y}; buckets with no snapshot are absent, and a spanGaps of 1.5 buckets breaks
   * the line there instead of drawing across the hole. */
  function showHistoryCharts(range, from, to, bucketMs, points, marks) {
    charts.forEach(function (c) {
      var chart = c.chart;
      chart.options.scales.x = historyXScale(range, from, to);
      chart.$alertMarks = marks;
      chart.$alertHover = null;
      chart.$maxGap = bucketMs * 1.5;
      chart.data.labels = [];
      chart.data.datasets.forEach(function (d, i) {
        d.data = points.map(function (p) {
          return { x: Date.parse(p.timestamp), y: c.history(p)[i] };
        });
        d.spanGaps = bucketMs * 1.5;
        d.pointRadius = historyPointRadius;
      });
      chart.update('none');
    });
  }

  // ---- figures ------------------------------------------------------------------------------------------------
  function renderTiles(m) {
    document.getElementById('redis-tile').hidden = m.redis === undefined;
    var nodes = document.querySelectorAll('[data-metric]');
    for (var i = 0; i < nodes.length; i++) {
      var el = nodes[i];
      var v = get(m, el.getAttribute('data-metric'));
      el.setAttribute('data-value', v === undefined ? '' : String(v));
      var unit = el.getAttribute('data-unit') || '';
      var text;
      if (v === undefined || v === null) text = '–';
      else if (el.getAttribute('data-format') === 'duration') text = fmtDuration(v);
      else if (typeof v === 'string')
        text = /^[\d.]+ MB$/.test(v) ? fmtNumber(Math.round(parseFloat(v))) + ' MB' : v;
      else if (v < 0) text = 'down';
      else text = fmtNumber(v) + (unit ? ' ' + unit : '');
      el.textContent = text;
    }
  }

  function setState(ok, reason) {
    var status = document.getElementById('status');
    var banner = document.getElementById('banner');
    document.body.classList.toggle('stale', !ok);
    if (ok) {
      status.textContent = 'live';
      status.className = 'status status-live';
      banner.hidden = true;
      document.body.removeAttribute('data-disconnected');
    } else {
      status.textContent = 'disconnected';
      status.className = 'status status-down';
      var since = lastOk ? ' since ' + clockTime(lastOk) : '';
      document.getElementById('banner-reason').textContent = '(' + reason + ')' + since + '.';
      banner.hidden = false;
      document.body.setAttribute('data-disconnected', 'true');
    }
  }

  function fetchJson(url, timeoutMs) {
    var controller = new AbortController();
    var t = setTimeout(
      function () {
        controller.abort();
      },
      timeoutMs || Math.max(2000, REFRESH_MS - 500),
    );
    return fetch(url, {
      credentials: 'same-origin',
      cache: 'no-store',
      headers: { Accept: 'application/json' },
      signal: controller.signal,
    })
      .then(function (res) {
        return res
          .json()
          .catch(function () {
            return null;
          })
          .then(function (body) {
            return { status: res.status, body: body };
          });
      })
      .finally(function () {
        clearTimeout(t);
      });
  }

  function describeFailure(res) {
    if (res.status === 401) return 'unauthorized: reload the page to sign in again';
    if (res.body && typeof res.body.error === 'string') return res.body.error;
    return 'HTTP ' + res.status;
  }

  // ---- alerts -------------------------------------------------------------------------------------------------
  function renderAlerts(res) {
    var panel = document.getElementById('alerts');
    if (res === null || res.status === 404 || !res.body || !Array.isArray(res.body.active)) {
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    var active = res.body.active;
    document.getElementById('alert-count').textContent = '(' + active.length + ')';
    document.getElementById('alerts-none').hidden = active.length > 0;
    var list = document.getElementById('alert-list');
    list.replaceChildren.apply(
      list,
      active.map(function (a) {
        var li = document.createElement('li');
        li.className = a.severity === 'critical' ? 'critical' : 'warning';
        var sev = document.createElement('span');
        sev.className = 'severity';
        sev.textContent = String(a.severity);
        var msg = document.createElement('span');
        msg.textContent = String(a.message || a.key);
        var meta = document.createElement('span');
        meta.className = 'meta';
        var since = a.since ? new Date(a.since) : null;
        meta.textContent =
          (a.value !== null && a.value !== undefined ? 'value ' + fmtNumber(a.value) : '') +
          (a.threshold !== null && a.threshold !== undefined
            ? ' / threshold ' + fmtNumber(a.threshold)
            : '') +
          (since && !isNaN(since.getTime()) ? ' · since ' + clockTime(since) : '');
        li.append(sev, msg, meta);
        return li;
      }),
    );
  }

  // ---- cluster ------------------------------------------------------------------------------------------------
  function renderCluster(res) {
    var panel = document.getElementById('cluster');
    if (res === null || res.status !== 200 || !res.body || !Array.isArray(res.body.instances)) {
      panel.hidden = true;
      return;
    }
    panel.hidden = false;
    var c = res.body;
    document.getElementById('cluster-summary').textContent =
      '(' +
      plural(c.instanceCount, 'instance') +
      ' · ' +
      plural(c.totalConnections, 'connection') +
      ' · ' +
      plural(c.uniqueUsers, 'user') +
      ')';
    var rows = c.instances.map(function (i) {
      var tr = document.createElement('tr');
      [
        [i.instanceId, ''],
        [i.hostname, ''],
        [i.version, ''],
        [fmtNumber(i.connections), 'num'],
        [fmtNumber(i.uniqueUsers), 'num'],
        [typeof i.uptime === 'number' ? fmtDuration(i.uptime) : '–', 'num'],
        [i.startedAt ? new Date(i.startedAt).toLocaleString('en-GB', { hour12: false }) : '–', ''],
      ].forEach(function (cell) {
        var td = document.createElement('td');
        td.textContent = String(cell[0]);
        if (cell[1]) td.className = cell[1];
        tr.appendChild(td);
      });
      return tr;
    });
    var body = document.getElementById('cluster-rows');
    body.replaceChildren.apply(body, rows);
  }

  // ---- history ------------------------------------------------------------------------------------------------
  /* The selected range lives in the URL hash (#range=24h&instance=…), so a reload or a shared link keeps it. */
  var HISTORY_REFRESH_MS = clamp(Number(params.get('historyRefresh')) || 60000, 1000, 600000);
  var HISTORY_TIMEOUT_MS = 10000;
  var selected = readHash();
  var historyTimer = null;
  var historySeq = 0;
  /** What the charts show in history mode: "range|instance" of the last good answer, so a failed refresh keeps it. */
  var historyShown = null;

  function readHash() {
    var h = new URLSearchParams(window.location.hash.replace(/^#/, ''));
    var range = h.get('range');
    return {
      range: range && Object.prototype.hasOwnProperty.call(RANGES, range) ? range : LIVE,
      instance: h.get('instance') || '',
    };
  }

  function writeHash() {
    var h = new URLSearchParams();
    if (selected.range !== LIVE) h.set('range', selected.range);
    if (selected.range !== LIVE && selected.instance) h.set('instance', selected.instance);
    var hash = h.toString();
    var url = window.location.pathname + window.location.search + (hash ? '#' + hash : '');
    if (url !== window.location.pathname + window.location.search + window.location.hash)
      window.history.replaceState(null, '', url);
  }

  function historyKey() {
    return selected.range + '|' + selected.instance;
  }

  function historyUrl() {
    return (
      '/metrics/history?range=' +
      encodeURIComponent(selected.range) +
      (selected.instance ? '&instance=' + encodeURIComponent(selected.instance) : '')
    );
  }

  function describeHistoryFailure(res) {
    if (res.status === 401) return 'History: unauthorized: reload the page to sign in again';
    var message = res.body && res.body.message;
    if (Array.isArray(message)) message = message.join('; ');
    if (typeof message === 'string' && message) return message;
    if (res.status === 404) return 'History is not available on this server (HTTP 404)';
    return 'History request failed: HTTP ' + res.status;
  }

  function setHistoryState(state) {
    document.body.setAttribute('data-history', state);
  }

  function showHistoryError(message) {
    var box = document.getElementById('history-error');
    box.textContent = message;
    box.hidden = false;
    setHistoryState('error');
    // With nothing good for this range yet the charts stay empty; after a good answer they keep it.
    if (historyShown !== historyKey()) emptyHistory();
  }

  /** Empty charts on the selected range's axis (never another range's figures), until its answer arrives. */
  function emptyHistory() {
    var now = Date.now();
    showHistoryCharts(selected.range, now - RANGES[selected.range].ms, now, 60000, [], []);
    document.getElementById('history-alerts').hidden = true;
    document.getElementById('history-info').textContent = '';
  }

  function fmtBucket(ms) {
    var s = Math.round(ms / 1000);
    if (s % 3600 === 0) return s / 3600 + ' h';
    if (s % 60 === 0) return s / 60 + ' min';
    return s + ' s';
  }

  function renderInstances(ids) {
    var select = document.getElementById('history-instance');
    var list = ids.slice();
    if (selected.instance && list.indexOf(selected.instance) < 0) list.push(selected.instance);
    var options = [['', 'All instances']].concat(
      list.map(function (id) {
        return [id, id];
      }),
    );
    select.replaceChildren.apply(
      select,
      options.map(function (o) {
        var opt = document.createElement('option');
        opt.value = o[0];
        opt.textContent = o[1];
        return opt;
      }),
    );
    select.value = selected.instance;
    // A choice only exists with more than one instance (or once one was picked, so it can be undone).
    document.getElementById('instance-box').hidden = list.length < 2 && !selected.instance;
  }

  function renderHistoryAlerts(alerts) {
    var panel = document.getElementById('history-alerts');
    panel.hidden = false;
    document.getElementById('history-alert-count').textContent = '(' + alerts.length + ')';
    document.getElementById('history-alerts-none').hidden = alerts.length > 0;
    var list = document.getElementById('history-alert-list');
    // Newest first, like the active alerts; the charts draw every one of them.
    var items = alerts
      .slice()
      .reverse()
      .map(function (a) {
        var li = document.createElement('li');
        li.className = a.to === 'critical' ? 'critical' : a.to === 'warning' ? 'warning' : 'resolved';
        li.setAttribute('data-key', String(a.key));
        li.setAttribute('data-to', String(a.to));
        li.setAttribute('data-timestamp', String(a.timestamp));
        var time = document.createElement('time');
        time.className = 'when';
        time.dateTime = String(a.timestamp);
        time.textContent = dateTime(new Date(a.timestamp));
        var sev = document.createElement('span');
        sev.className = 'severity';
        sev.textContent = a.to === 'ok' ? 'resolved' : String(a.to);
        var msg = document.createElement('span');
        msg.textContent = String(a.message || a.key);
        var meta = document.createElement('span');
        meta.className = 'meta';
        meta.textContent =
          String(a.key) +
          ' ' +
          String(a.from) +
          ' → ' +
          String(a.to) +
          (a.instanceId ? ' · ' + String(a.instanceId) : '');
        li.append(time, sev, msg, meta);
        return li;
      });
    list.replaceChildren.apply(list, items);
  }

  function renderHistory(body) {
    var from = Date.parse(body.from);
    var to = Date.parse(body.to);
    var marks = body.alerts
      .map(function (a) {
        return {
          t: Date.parse(a.timestamp),
          key: String(a.key),
          from: String(a.from),
          to: String(a.to),
          message: String(a.message || ''),
        };
      })
      .filter(function (m) {
        return isFinite(m.t);
      });
    showHistoryCharts(selected.range, from, to, body.bucketMs, body.points, marks);
    renderHistoryAlerts(body.alerts);
    renderInstances(Array.isArray(body.instances) ? body.instances : []);
    historyShown = historyKey();
    document.getElementById('history-error').hidden = true;
    document.getElementById('history-info').textContent =
      dateTime(new Date(from)) +
      ' – ' +
      dateTime(new Date(to)) +
      ' · ' +
      plural(body.points.length, 'point') +
      ' of ' +
      fmtBucket(body.bucketMs) +
      ' · ' +
      body.backend +
      ' · refreshed ' +
      clockTime(new Date());
    document.body.setAttribute('data-history-to', String(body.to));
    setHistoryState('ready');
  }

  function historyRefreshMs(bucketMs) {
    // A new point appears at most once per bucket (the snapshot interval at 1 h): no use asking more often than
    // that, and at least every HISTORY_REFRESH_MS (60 s, ?historyRefresh=<ms>) so the latest bucket fills in.
    return Math.min(HISTORY_REFRESH_MS, Math.max(bucketMs || HISTORY_REFRESH_MS, 1000));
  }

  function loadHistory() {
    clearTimeout(historyTimer);
    historyTimer = null;
    if (selected.range === LIVE) return;
    var seq = ++historySeq;
    var bucketMs = null;
    setHistoryState('loading');
    fetchJson(historyUrl(), HISTORY_TIMEOUT_MS)
      .then(function (res) {
        if (seq !== historySeq) return;
        if (
          res.status === 200 &&
          res.body &&
          Array.isArray(res.body.points) &&
          Array.isArray(res.body.alerts)
        ) {
          bucketMs = res.body.bucketMs;
          renderHistory(res.body);
        } else {
          showHistoryError(describeHistoryFailure(res));
        }
      })
      .catch(function (err) {
        if (seq !== historySeq) return;
        showHistoryError(
          err && err.name === 'AbortError'
            ? 'History did not answer within ' + HISTORY_TIMEOUT_MS / 1000 + ' s'
            : 'History is unreachable: server unreachable',
        );
      })
      .finally(function () {
        if (seq !== historySeq || selected.range === LIVE || document.hidden) return;
        historyTimer = setTimeout(loadHistory, historyRefreshMs(bucketMs));
      });
  }

  function select(range, instance) {
    selected = { range: range, instance: range === LIVE ? '' : instance };
    writeHash();
    document.body.setAttribute('data-selected-range', range);
    var buttons = document.querySelectorAll('#ranges [data-range]');
    for (var i = 0; i < buttons.length; i++)
      buttons[i].setAttribute('aria-pressed', String(buttons[i].getAttribute('data-range') === range));
    var isLive = range === LIVE;
    document.getElementById('history-info').textContent = isLive
      ? 'last ' + Math.round((MAX_POINTS * REFRESH_MS) / 60000) + ' min, every ' + REFRESH_MS / 1000 + ' s'
      : '';
    document.getElementById('history-alerts').hidden = true;
    document.getElementById('history-error').hidden = true;
    if (isLive) document.getElementById('instance-box').hidden = true;
    // Cancels a history answer still in flight: it belongs to the previous choice.
    historySeq++;
    clearTimeout(historyTimer);
    historyTimer = null;
    historyShown = null;
    if (isLive) {
      document.body.removeAttribute('data-history');
      document.body.removeAttribute('data-history-to');
      showLiveCharts();
    } else {
      emptyHistory();
      loadHistory();
    }
  }

  document.getElementById('ranges').addEventListener('click', function (e) {
    var button = e.target.closest('[data-range]');
    if (button) select(button.getAttribute('data-range'), selected.instance);
  });

  document.getElementById('history-instance').addEventListener('change', function (e) {
    select(selected.range, e.target.value);
  });

  window.addEventListener('hashchange', function () {
    var wanted = readHash();
    if (wanted.range !== selected.range || wanted.instance !== selected.instance)
      select(wanted.range, wanted.instance);
  });

  // ---- polling ------------------------------------------------------------------------------------------------
  function optional(url) {
    return fetchJson(url).catch(function () {
      return null;
    });
  }

  function tick() {
    var alerts = optional('/alerts');
    fetchJson('/metrics')
      .then(function (res) {
        if (res.status !== 200 || !res.body || !res.body.websocket) {
          setState(false, describeFailure(res));
          return;
        }
        var m = res.body;
        var now = new Date();
        lastOk = now;
        renderTiles(m);
        pushPoint(m, clockTime(now));
        document.getElementById('updated').textContent = clockTime(now);
        setState(true);
        // The cluster view exists only with Redis; without it this instance is the whole cluster.
        if (m.redis !== undefined) return optional('/metrics/cluster').then(renderCluster);
        renderCluster(null);
      })
      .catch(function (err) {
        setState(false, err && err.name === 'AbortError' ? 'request timed out' : 'server unreachable');
      })
      .then(function () {
        return alerts.then(renderAlerts);
      })
      .finally(function () {
        timer = setTimeout(tick, REFRESH_MS);
      });
  }

  document.addEventListener('visibilitychange', function () {
    // A hidden tab stops polling; coming back refreshes at once instead of showing minutes-old figures.
    if (document.hidden) {
      clearTimeout(timer);
      timer = null;
      clearTimeout(historyTimer);
      historyTimer = null;
    } else {
      if (timer === null) tick();
      if (selected.range !== LIVE && historyTimer === null) loadHistory();
    }
  });

  select(selected.range, selected.instance);
  tick();
})();
