/* The timeline's time range, as Grafana users expect: a range picker (last 5 min … 24 h), drag
 * across the chart to zoom into a span, double-click or "Reset zoom" to return to the live range,
 * and the values under the pointer (time, score, β₀, β₁, severity) in a tooltip with a crosshair.
 *
 * dashboard.js draws; this file decides what: renderChart asks select(rows, now) for the rows and
 * the time axis, then reports the scales it drew with through drawn(). A range reaching past the
 * detections the page holds is read from GET /api/anomalies. A change of range fires
 * "topoforge:chart-range" on the document, and the chart is drawn again. No dependencies. */
(function () {
  "use strict";

  var DRAG_PIXELS = 5;       // a shorter drag is a click (which selects a detection)
  var FETCH_LIMIT = 1000;    // rows per API page
  var FETCH_PAGES = 10;      // at most 10,000 rows read for one range

  var canvas = document.getElementById("timeline");
  var picker = document.getElementById("chart-range");
  var reset = document.getElementById("chart-reset");
  var tooltip = document.getElementById("chart-tooltip");
  var overlay = document.getElementById("chart-overlay");
  var config = JSON.parse(document.getElementById("dashboard-config").textContent);
  if (!canvas || !picker || !overlay) return;

  var state = {
    minutes: Number(picker.value) || 60,
    zoom: null,       // {from, to} in ms: a fixed span; null follows the clock
    fetched: [],      // rows read from the API for the range
    fetchedFor: null, // the range key they were read for
    drawn: null,      // what renderChart last drew with (scales, rows)
    drag: null,       // {x0, x1} in canvas pixels while dragging
    dragged: false,
  };

  function bounds(now) {
    return state.zoom ? [state.zoom.from, state.zoom.to] : [now - state.minutes * 60000, now];
  }

  function changed() {
    reset.hidden = !state.zoom;
    document.dispatchEvent(new CustomEvent("topoforge:chart-range", { detail: current() }));
  }

  function current() {
    var b = bounds(Date.now());
    return { from: new Date(b[0]).toISOString(), to: new Date(b[1]).toISOString(), zoomed: !!state.zoom,
             minutes: state.minutes, rows: state.drawn ? state.drawn.list.length : 0 };
  }

  // --- the rows of the range: the page's, and the API's for the part before them ----------------
  function select(rows, now) {
    var b = bounds(now), t0 = b[0], t1 = b[1];
    var oldest = rows.length ? Date.parse(rows[0].timestamp) : now;
    if (t0 < oldest) fetchRange(t0, Math.min(t1, oldest));
    var seen = {}, list = [];
    state.fetched.concat(rows).forEach(function (d) {
      var t = Date.parse(d.timestamp);
      if (t < t0 || t > t1 || seen[d.id]) return;
      seen[d.id] = true; list.push(d);
    });
    list.sort(function (a, b2) { return Date.parse(a.timestamp) - Date.parse(b2.timestamp); });
    return { list: list, t0: t0, t1: t1 };
  }

  function fetchRange(from, to) {
    // Live ranges move every second: one read per choice of range, not per frame.
    var key = state.zoom ? state.zoom.from + "-" + state.zoom.to : "last-" + state.minutes;
    if (state.fetchedFor === key) return;
    state.fetchedFor = key; state.fetched = [];
    var url = (config.list_url || "/api/anomalies") + "?ordering=-timestamp&limit=" + FETCH_LIMIT +
      "&start_date=" + encodeURIComponent(new Date(from).toISOString()) +
      "&end_date=" + encodeURIComponent(new Date(to).toISOString());
    var rows = [];
    (function page(next, left) {
      fetch(next, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (body) {
          if (state.fetchedFor !== key) return; // the range changed meanwhile
          rows = rows.concat(body.results || []);
          if (body.next && left > 1) { page(body.next, left - 1); return; }
          state.fetched = rows; changed();
        })
        .catch(function () { if (state.fetchedFor === key) state.fetchedFor = null; });
    })(url, FETCH_PAGES);
  }

  // --- what was drawn, and the overlay above it (crosshair, selection) -------------------------
  function drawn(info) {
    state.drawn = info;
    paintOverlay(null);
  }

  function timeAt(px) {
    var d = state.drawn;
    return d.t0 + ((px - d.pad.left) / d.w) * (d.t1 - d.t0);
  }

  function nearest(px) {
    var d = state.drawn, best = null, bestDistance = Infinity;
    if (!d) return null;
    d.list.forEach(function (row) {
      var distance = Math.abs(d.x(row) - px);
      if (distance < bestDistance) { best = row; bestDistance = distance; }
    });
    return bestDistance <= 30 ? best : null;
  }

  function paintOverlay(hovered) {
    var ratio = window.devicePixelRatio || 1, width = canvas.clientWidth, height = canvas.clientHeight;
    overlay.width = width * ratio; overlay.height = height * ratio;
    var g = overlay.getContext("2d"), d = state.drawn;
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    if (!d) return;
    if (state.drag) {
      var a = Math.min(state.drag.x0, state.drag.x1), b = Math.max(state.drag.x0, state.drag.x1);
      g.fillStyle = "rgba(79, 70, 229, 0.12)"; g.fillRect(a, d.pad.top, b - a, d.h);
    }
    if (hovered) {
      var px = d.x(hovered);
      g.strokeStyle = "#94a3b8"; g.lineWidth = 1; g.setLineDash([3, 3]);
      g.beginPath(); g.moveTo(px, d.pad.top); g.lineTo(px, d.pad.top + d.h); g.stroke();
      if (hovered.anomaly_score !== null && hovered.anomaly_score !== undefined) {
        g.setLineDash([]); g.beginPath(); g.arc(px, d.yScore(hovered.anomaly_score), 4, 0, 2 * Math.PI);
        g.fillStyle = hovered.is_anomaly ? "#dc2626" : "#4f46e5"; g.fill();
      }
    }
  }

  function showTooltip(row, px, py) {
    if (!row) { tooltip.hidden = true; return; }
    var score = row.warming_up ? "warming up" : (row.anomaly_score === null || row.anomaly_score === undefined ? "–" : Number(row.anomaly_score).toFixed(4));
    var lines = [
      row.timestamp.replace("T", " ").replace(/\.\d+/, "").replace("Z", "") + " UTC",
      "score " + score + (row.is_anomaly ? " · anomaly" : "") + (row.suppressed ? " · suppressed" : ""),
      "β₀ " + row.betti_h0 + " · β₁ " + row.betti_h1 + " · β₂ " + row.betti_h2,
      row.source_type + " · " + row.severity,
    ];
    tooltip.textContent = "";
    lines.forEach(function (text) { var line = document.createElement("div"); line.textContent = text; tooltip.appendChild(line); });
    tooltip.hidden = false;
    var left = Math.min(px + 12, canvas.clientWidth - tooltip.offsetWidth - 4);
    tooltip.style.left = Math.max(0, left) + "px";
    tooltip.style.top = Math.max(0, py - tooltip.offsetHeight - 8) + "px";
  }

  // --- pointer: hover, drag to zoom, double-click to reset ---------------------------------------
  // The pointer in the chart's drawing coordinates: the canvas's bitmap (clientWidth wide) is
  // shown in its content box, inside the CSS padding.
  function position(event) {
    var rect = canvas.getBoundingClientRect(), css = getComputedStyle(canvas);
    var left = parseFloat(css.paddingLeft), top = parseFloat(css.paddingTop);
    var contentWidth = rect.width - left - parseFloat(css.paddingRight);
    var contentHeight = rect.height - top - parseFloat(css.paddingBottom);
    return { x: (event.clientX - rect.left - left) * canvas.clientWidth / contentWidth,
             y: (event.clientY - rect.top - top) * canvas.clientHeight / contentHeight,
             cssX: event.clientX - rect.left, cssY: event.clientY - rect.top };
  }

  canvas.addEventListener("mousedown", function (event) {
    if (!state.drawn) return;
    var p = position(event);
    state.drag = { x0: p.x, x1: p.x };
  });
  canvas.addEventListener("mousemove", function (event) {
    var p = position(event);
    if (state.drag) state.drag.x1 = p.x;
    var row = state.drag ? null : nearest(p.x);
    paintOverlay(row);
    showTooltip(row, p.cssX, p.cssY);
  });
  canvas.addEventListener("mouseleave", function () { state.drag = null; paintOverlay(null); showTooltip(null); });
  window.addEventListener("mouseup", function () {
    var drag = state.drag;
    state.drag = null;
    if (!drag || !state.drawn) return;
    if (Math.abs(drag.x1 - drag.x0) < DRAG_PIXELS) { paintOverlay(null); return; }
    var from = timeAt(Math.min(drag.x0, drag.x1)), to = timeAt(Math.max(drag.x0, drag.x1));
    state.zoom = { from: from, to: to };
    state.dragged = true; // the click that ends this drag is no selection
    changed();
  });
  // Registered before dashboard.js's click handler (this file loads first): swallow a drag's click.
  canvas.addEventListener("click", function (event) {
    if (state.dragged) { state.dragged = false; event.stopImmediatePropagation(); }
  });
  canvas.addEventListener("dblclick", function () { if (state.zoom) { state.zoom = null; changed(); } });
  reset.addEventListener("click", function () { state.zoom = null; changed(); });
  picker.addEventListener("change", function () {
    state.minutes = Number(picker.value); state.zoom = null; changed();
  });
  // A live range follows the clock even when no detection arrives.
  setInterval(function () { if (!state.zoom) changed(); }, 5000);

  window.TopoForgeChartRange = { select: select, drawn: drawn, current: current };
})();
