/* TopoForge dashboard: live detections over the WebSocket, a canvas timeline, an SVG persistence
 * diagram, stats from /api/anomalies/stats. No dependencies. */
(function () {
  "use strict";

  var MAX_KEPT = 600;          // detections kept in memory
  var MAX_ROWS = 150;          // rows shown in the table
  var QUIET_AFTER = 60;        // seconds without events before the indicator turns amber
  var STATS_EVERY = 30000;     // ms between stats refreshes

  var config = JSON.parse(document.getElementById("dashboard-config").textContent);
  var detections = JSON.parse(document.getElementById("initial-detections").textContent);
  var byId = {};
  detections.forEach(function (d) { byId[d.id] = d; });

  var state = { source: "", series: null, selected: null, lastEventAt: null, socket: "connecting", retryAt: null };
  var el = function (id) { return document.getElementById(id); };

  // --- helpers -----------------------------------------------------------------------------------
  function visible() {
    var chosen = state.series;  // {source_type, series} from series.js, or null
    return detections.filter(function (d) {
      return (!state.source || d.source_type === state.source) &&
        (!chosen || (d.source_type === chosen.source_type && (d.series || "") === chosen.series));
    });
  }
  function time(iso) { return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", "") : ""; }
  function ago(seconds) {
    if (seconds < 60) return Math.max(0, Math.round(seconds)) + " s ago";
    if (seconds < 3600) return Math.round(seconds / 60) + " min ago";
    return Math.round(seconds / 3600) + " h ago";
  }
  function fmt(x, digits) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); }
  // A warm-up row has no score (null); a suppressed one has its rarity, and the gate's "no".
  function scoreText(d) {
    if (d.warming_up) return "warming up";
    return fmt(d.anomaly_score, 4) + (d.suppressed ? " · suppressed" : "");
  }
  function node(tag, attrs, text) {
    var n = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    if (text !== undefined) n.textContent = text;
    return n;
  }
  function svg(tag, attrs, text) {
    var n = document.createElementNS("http://www.w3.org/2000/svg", tag);
    Object.keys(attrs || {}).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    if (text !== undefined) n.textContent = text;
    return n;
  }

  // --- detections table ---------------------------------------------------------------------------
  function row(d, fresh) {
    var tr = node("tr", { "data-id": d.id });
    if (d.is_anomaly) tr.classList.add("is-anomaly");
    if (d.warming_up) tr.classList.add("is-warming-up");
    if (fresh) tr.classList.add("fresh");
    if (state.selected === d.id) tr.classList.add("selected");
    tr.appendChild(node("td", {}, time(d.timestamp)));
    tr.appendChild(node("td", {}, d.source_type));
    var score = node("td"), wrap = node("div", { class: "score" }), bar = node("span", { class: "score-bar" });
    var fill = node("i"); fill.style.width = Math.round((d.anomaly_score || 0) * 100) + "%";
    bar.appendChild(fill); wrap.appendChild(bar); wrap.appendChild(node("span", {}, scoreText(d)));
    score.appendChild(wrap); tr.appendChild(score);
    tr.appendChild(node("td", {}, String(d.betti_h0)));
    tr.appendChild(node("td", {}, String(d.betti_h1)));
    tr.appendChild(node("td", {}, String(d.betti_h2)));
    var sev = node("td"); sev.appendChild(node("span", { class: "badge badge-" + d.severity }, d.severity));
    tr.appendChild(sev);
    tr.addEventListener("click", function () { select(d.id); });
    return tr;
  }

  function renderTable(freshId) {
    var body = el("detections"), list = visible();
    body.textContent = "";
    var shown = list.slice(-MAX_ROWS).reverse();
    shown.forEach(function (d) { body.appendChild(row(d, d.id === freshId)); });
    el("empty").hidden = list.length > 0;
    el("list-count").textContent = list.length ? "latest " + shown.length + " of " + list.length + " received" : "";
  }

  // --- timeline chart (canvas) -------------------------------------------------------------------
  function renderChart() {
    var canvas = el("timeline"), ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth, height = canvas.clientHeight;
    canvas.width = width * ratio; canvas.height = height * ratio;
    var g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    var pad = { left: 40, right: 40, top: 10, bottom: 26 };
    var w = width - pad.left - pad.right, h = height - pad.top - pad.bottom;
    var list = visible().slice(-300), range = null;
    // chart_range.js: the time-range picker and zoom choose the rows and the time axis.
    if (window.TopoForgeChartRange) { range = TopoForgeChartRange.select(visible(), Date.now()); list = range.list; }
    g.font = "11px system-ui, sans-serif";
    g.fillStyle = "#64748b"; g.strokeStyle = "#eef2f7"; g.lineWidth = 1;
    for (var i = 0; i <= 4; i++) {
      var y = pad.top + h - (i / 4) * h;
      g.beginPath(); g.moveTo(pad.left, y); g.lineTo(pad.left + w, y); g.stroke();
      g.textAlign = "right"; g.fillText((i / 4).toFixed(2), pad.left - 6, y + 4);
    }
    if (!list.length) {
      g.textAlign = "center"; g.fillText(range && detections.length ? "No detections in this time range" : "Waiting for detections…", pad.left + w / 2, pad.top + h / 2);
      if (range) TopoForgeChartRange.drawn(null);
      return;
    }
    var t0 = range ? range.t0 : Date.parse(list[0].timestamp), t1 = range ? range.t1 : Date.parse(list[list.length - 1].timestamp);
    if (t1 <= t0) t1 = t0 + 1000;
    var maxBetti = Math.max(1, Math.max.apply(null, list.map(function (d) { return Math.max(d.betti_h0, d.betti_h1); })));
    var x = function (d) { return pad.left + ((Date.parse(d.timestamp) - t0) / (t1 - t0)) * w; };
    var yScore = function (v) { return pad.top + h - v * h; };
    var yBetti = function (v) { return pad.top + h - (v / maxBetti) * h; };

    g.textAlign = "left";
    for (var j = 0; j <= 2; j++) {
      var b = Math.round((j / 2) * maxBetti);
      g.fillText(String(b), pad.left + w + 6, yBetti(b) + 4);
    }
    g.textAlign = "center";
    [0, 0.5, 1].forEach(function (f) {
      var t = new Date(t0 + f * (t1 - t0)).toISOString().slice(t1 - t0 > 864e5 ? 5 : 11, t1 - t0 > 864e5 ? 16 : 19).replace("T", " ");
      g.fillText(t, pad.left + f * w, height - 8);
    });

    function step(key, colour) {
      g.strokeStyle = colour; g.lineWidth = 1.5; g.globalAlpha = 0.8; g.beginPath();
      list.forEach(function (d, k) {
        var px = x(d), py = yBetti(d[key]);
        if (k === 0) g.moveTo(px, py); else { g.lineTo(px, yBetti(list[k - 1][key])); g.lineTo(px, py); }
      });
      g.stroke(); g.globalAlpha = 1;
    }
    step("betti_h0", "#0891b2");
    step("betti_h1", "#d97706");

    // Warm-up rows have no score: a grey band along the bottom, and a gap in the score line.
    g.fillStyle = "#cbd5e1";
    list.forEach(function (d) { if (d.warming_up) g.fillRect(x(d) - 1, pad.top + h - 6, 3, 6); });
    g.strokeStyle = "#4f46e5"; g.lineWidth = 2; g.beginPath();
    var drawing = false;
    list.forEach(function (d) {
      if (d.anomaly_score === null || d.anomaly_score === undefined) { drawing = false; return; }
      var px = x(d), py = yScore(d.anomaly_score);
      if (drawing) g.lineTo(px, py); else g.moveTo(px, py);
      drawing = true;
    });
    g.stroke();
    list.forEach(function (d) {
      if (d.anomaly_score === null || d.anomaly_score === undefined) return;
      if (!d.is_anomaly && d.id !== state.selected) return;
      g.beginPath(); g.arc(x(d), yScore(d.anomaly_score), d.id === state.selected ? 5 : 3.5, 0, 2 * Math.PI);
      g.fillStyle = d.is_anomaly ? "#dc2626" : "#4f46e5"; g.fill();
      if (d.id === state.selected) { g.strokeStyle = "#0f172a"; g.lineWidth = 1.5; g.stroke(); }
    });
    canvas._points = list.map(function (d) { return { id: d.id, x: x(d), y: yScore(d.anomaly_score || 0) }; });
    if (range) TopoForgeChartRange.drawn({ list: list, x: x, yScore: yScore, pad: pad, w: w, h: h, t0: t0, t1: t1 });
  }
  document.addEventListener("topoforge:chart-range", function () { renderChart(); });

  el("timeline").addEventListener("click", function (event) {
    var canvas = event.currentTarget, rect = canvas.getBoundingClientRect();
    var px = event.clientX - rect.left, best = null, bestDistance = 12;
    (canvas._points || []).forEach(function (p) {
      var distance = Math.abs(p.x - px);
      if (distance < bestDistance) { best = p; bestDistance = distance; }
    });
    if (best) select(best.id);
  });

  // --- persistence diagram (SVG) -----------------------------------------------------------------
  function diagramOf(d) {
    var m = d.metadata || {}, e = d.event_data || {};
    return m.diagram || e.diagram || null;
  }

  function renderDiagram(d) {
    var box = el("diagram"), detail = el("detail");
    box.textContent = ""; detail.textContent = "";
    if (!d) { box.appendChild(node("p", { class: "empty" }, "Click a detection to see its persistence diagram.")); el("detail-id").textContent = ""; return; }
    el("detail-id").textContent = "#" + d.id;
    var diagram = diagramOf(d);
    var points = [];
    ["h0", "h1", "h2"].forEach(function (dim) {
      ((diagram && diagram[dim]) || []).forEach(function (p) { if (isFinite(p[0]) && isFinite(p[1])) points.push({ dim: dim, b: p[0], d: p[1] }); });
    });
    if (!points.length) {
      box.appendChild(node("p", { class: "empty" }, "This detection carries no persistence diagram."));
    } else {
      var size = 340, pad = 44, span = size - 2 * pad;
      var hi = Math.max.apply(null, points.map(function (p) { return Math.max(p.b, p.d); }));
      var lo = Math.min(0, Math.min.apply(null, points.map(function (p) { return p.b; })));
      if (hi <= lo) hi = lo + 1;
      hi = hi + (hi - lo) * 0.05;
      var sx = function (v) { return pad + ((v - lo) / (hi - lo)) * span; };
      var sy = function (v) { return size - pad - ((v - lo) / (hi - lo)) * span; };
      var root = svg("svg", { viewBox: "0 0 " + size + " " + size, role: "img", "aria-label": "Persistence diagram" });
      for (var i = 0; i <= 4; i++) {
        var v = lo + (i / 4) * (hi - lo);
        root.appendChild(svg("line", { class: "grid", x1: pad, x2: size - pad, y1: sy(v), y2: sy(v) }));
        root.appendChild(svg("text", { x: pad - 6, y: sy(v) + 3, "text-anchor": "end" }, v.toFixed(2)));
        root.appendChild(svg("text", { x: sx(v), y: size - pad + 14, "text-anchor": "middle" }, v.toFixed(2)));
      }
      root.appendChild(svg("line", { class: "axis", x1: pad, y1: size - pad, x2: size - pad, y2: size - pad }));
      root.appendChild(svg("line", { class: "axis", x1: pad, y1: pad, x2: pad, y2: size - pad }));
      root.appendChild(svg("line", { class: "diag", x1: sx(lo), y1: sy(lo), x2: sx(hi), y2: sy(hi) }));
      root.appendChild(svg("text", { x: size / 2, y: size - 10, "text-anchor": "middle" }, "birth"));
      root.appendChild(svg("text", { x: 10, y: size / 2, transform: "rotate(-90 10 " + size / 2 + ")", "text-anchor": "middle" }, "death"));
      points.forEach(function (p) {
        var c = svg("circle", { class: "pt-" + p.dim, cx: sx(p.b), cy: sy(p.d), r: 4, "fill-opacity": 0.8 });
        c.appendChild(svg("title", {}, p.dim.toUpperCase() + " (" + p.b.toFixed(3) + ", " + p.d.toFixed(3) + ")"));
        root.appendChild(c);
      });
      var legend = [["h0", "H₀"], ["h1", "H₁"], ["h2", "H₂"]];
      legend.forEach(function (item, k) {
        root.appendChild(svg("circle", { class: "pt-" + item[0], cx: size - pad - 92 + k * 34, cy: pad - 12, r: 4 }));
        root.appendChild(svg("text", { x: size - pad - 85 + k * 34, y: pad - 9 }, item[1]));
      });
      box.appendChild(root);
    }
    var window_ = (d.metadata && d.metadata.window) || (d.event_data && d.event_data.window) || {};
    var rows = [
      ["Time", time(d.timestamp) + " UTC"], ["Source", d.source_type],
      ["Score", scoreText(d) + (d.is_anomaly ? " · anomaly" : "")], ["Severity", d.severity],
      ["Betti", "β₀ " + d.betti_h0 + " · β₁ " + d.betti_h1 + " · β₂ " + d.betti_h2],
    ];
    if (window_.start) rows.push(["Window", time(window_.start) + " → " + time(window_.end).slice(11)]);
    rows.forEach(function (r) { detail.appendChild(node("dt", {}, r[0])); detail.appendChild(node("dd", {}, r[1])); });
  }

  // warmup.js and other panels listen for the detections the page holds (of the chosen source).
  function announce() {
    document.dispatchEvent(new CustomEvent("topoforge:detections", { detail: { detections: visible(), source: state.source } }));
  }

  function select(id) {
    state.selected = id;
    renderDiagram(byId[id]);
    renderTable(); renderChart();
    // detail.js (the explanation) and other panels listen for the selected detection.
    document.dispatchEvent(new CustomEvent("topoforge:select", { detail: byId[id] }));
  }

  // --- stats cards -------------------------------------------------------------------------------
  var statsTimer = null;
  function refreshStats() {
    var since = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
    var url = config.stats_url + "?start_date=" + encodeURIComponent(since) + (state.series ? "&source=" + encodeURIComponent(state.series.source_type) + "&series=" + encodeURIComponent(state.series.series)
        : state.source ? "&source=" + encodeURIComponent(state.source) : "");
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (s) {
        el("stat-total").textContent = s.total.toLocaleString();
        el("stat-total-note").textContent = s.last_timestamp ? "last window " + time(s.last_timestamp).slice(11) + " UTC" : "nothing stored yet";
        el("stat-anomalies").textContent = s.anomalies.toLocaleString();
        el("stat-rate").textContent = (s.anomaly_rate * 100).toFixed(1) + " % of windows";
        el("stat-mean").textContent = fmt(s.mean_score, 3);
        el("stat-max").textContent = "max " + fmt(s.max_score, 3);
        el("stat-betti").textContent = fmt(s.mean_betti.h0, 1) + " / " + fmt(s.mean_betti.h1, 1);
        el("stat-sources").textContent = s.by_source.length + (s.by_source.length === 1 ? " source" : " sources");
      })
      .catch(function () { el("stat-total-note").textContent = "stats unavailable"; });
  }
  function scheduleStats(delay) {
    if (statsTimer) return;
    statsTimer = setTimeout(function () { statsTimer = null; refreshStats(); }, delay);
  }

  // --- live connection ---------------------------------------------------------------------------
  var retryDelay = 1000;
  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var socket = new WebSocket(scheme + location.host + config.websocket_path);
    state.socket = "connecting"; renderFlow();
    socket.onopen = function () { retryDelay = 1000; };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "welcome") {
        state.socket = "open"; renderFlow();
        // Everything, and several waiting detections in one message when the server is busy.
        socket.send(JSON.stringify({ subscribe: {}, coalesce: true }));
      }
      else if (message.type === "anomaly") receive(message.data);
      else if (message.type === "anomalies") message.data.forEach(receive);
      else if (message.type === "ping") socket.send(JSON.stringify({ type: "pong" }));
    };
    socket.onclose = function (event) {
      if (event.code === 4401 || event.code === 4403) { location.href = "/login/?next=/"; return; }
      state.socket = "down"; state.retryAt = Date.now() + retryDelay; renderFlow();
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 30000);
    };
  }

  function receive(d) {
    state.lastEventAt = Date.now();
    if (!byId[d.id]) {
      byId[d.id] = d;
      detections.push(d);
      detections.sort(function (a, b) { return Date.parse(a.timestamp) - Date.parse(b.timestamp); });
      if (detections.length > MAX_KEPT) detections.splice(0, detections.length - MAX_KEPT).forEach(function (old) { delete byId[old.id]; });
    }
    if (!Array.prototype.some.call(el("source-filter").options, function (o) { return o.value === d.source_type; })) {
      el("source-filter").appendChild(node("option", { value: d.source_type }, d.source_type));
    }
    renderTable(d.id); renderChart(); renderFlow(); announce();
    scheduleStats(5000);
  }

  function renderFlow() {
    var flow = el("flow"), text = el("flow-text"), cls;
    if (state.socket === "connecting") { cls = "flow-connecting"; text.textContent = "Connecting…"; }
    else if (state.socket === "down") {
      cls = "flow-down";
      text.textContent = "Disconnected · retrying in " + Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000)) + " s";
    } else if (state.lastEventAt === null) {
      // Nothing pushed since the page loaded: a detector that stored a row lately is flowing all
      // the same (the page was served with it); its next row is a bucket away.
      var newest = detections[detections.length - 1];
      var last = newest ? (Date.now() - Date.parse(newest.created_at || newest.timestamp)) / 1000 : null;
      cls = last !== null && last <= QUIET_AFTER ? "flow-live" : "flow-quiet";
      text.textContent = (cls === "flow-live" ? "Data flowing · " : "Connected · ") + (last === null ? "no events yet" : "last stored " + ago(last));
    } else {
      var age = (Date.now() - state.lastEventAt) / 1000;
      cls = age > QUIET_AFTER ? "flow-quiet" : "flow-live";
      text.textContent = (age > QUIET_AFTER ? "Quiet" : "Data flowing") + " · last event " + ago(age);
    }
    flow.className = "flow " + cls;
  }

  el("source-filter").addEventListener("change", function (event) {
    state.source = event.target.value;
    renderTable(); renderChart(); refreshStats(); announce();
  });
  document.addEventListener("topoforge:series", function (event) {
    state.series = event.detail;
    renderTable(); renderChart(); refreshStats();
  });
  window.addEventListener("resize", renderChart);
  setInterval(renderFlow, 1000);
  setInterval(refreshStats, STATS_EVERY);

  renderTable(); renderChart(); renderFlow(); refreshStats(); announce();
  var newestAnomaly = detections.filter(function (d) { return d.is_anomaly; }).pop() || detections[detections.length - 1];
  if (newestAnomaly) select(newestAnomaly.id);
  connect();
})();
