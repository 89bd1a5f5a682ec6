/* Live dashboard: polls the same-origin JSON endpoints (with the browser's credentials, so METRICS_TOKEN basic auth
 * keeps working), keeps a short history for the charts, and shows a "disconnected" banner while polling fails.
 * Only totals are fetched and drawn, so the page costs the same with 10 or 10,000 sockets. */
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
        plugins: { legend: { display: series.length > 1, labels: { boxWidth: 10 } } },
        scales: {
          x: { ticks: { maxTicksLimit: 6, maxRotation: 0 } },
          y: { beginAtZero: true, ticks: { maxTicksLimit: 5 } },
        },
      },
    });
  }

  var charts = [
    {
      chart: lineChart('chart-connections', [{ label: 'connections', color: colors.blue }]),
      values: function (m) {
        return [m.websocket.totalConnections];
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
    },
    {
      chart: lineChart('chart-events', [{ label: 'events/s', color: colors.green }]),
      values: function (m) {
        return [m.websocket.eventsPerSecond];
      },
    },
    {
      chart: lineChart('chart-latency', [{ label: 'p95 ms', color: colors.orange }]),
      values: function (m) {
        return [m.websocket.latency.p95];
      },
    },
    {
      chart: lineChart('chart-errors', [{ label: 'error %', color: colors.red }]),
      values: function (m) {
        return [m.http.errorRate];
      },
    },
  ];

  function pushPoint(m, label) {
    charts.forEach(function (c) {
      var data = c.chart.data;
      data.labels.push(label);
      c.values(m).forEach(function (v, i) {
        data.datasets[i].data.push(v);
      });
      if (data.labels.length > MAX_POINTS) {
        data.labels.shift();
        data.datasets.forEach(function (d) {
          d.data.shift();
        });
      }
      c.chart.update('none');
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

  function fetchJson(url) {
    var controller = new AbortController();
    var t = setTimeout(
      function () {
        controller.abort();
      },
      Math.max(2000, REFRESH_MS - 500),
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
    } else if (timer === null) {
      tick();
    }
  });

  tick();
})();
