/* TopoForge dashboard: the top anomalous series (GET /api/series, highest last score first),
 * refreshed every 30 s. Clicking a series filters the dashboard to it (the "topoforge:series"
 * event, which dashboard.js follows); clicking it again, or "All series", clears the filter. */
(function () {
  "use strict";

  var REFRESH_EVERY = 30000;
  var TOP = 10;
  var panel = document.getElementById("series-panel");
  if (!panel) return;
  var list = document.getElementById("series-top");
  var note = document.getElementById("series-note");
  var chosen = null;  // {source_type, series} or null

  function same(a, b) { return a && b && a.source_type === b.source_type && a.series === b.series; }
  function label(s) { return s.series ? s.series : s.source_type + " (whole stream)"; }

  function choose(s) {
    chosen = same(chosen, s) ? null : s;
    document.dispatchEvent(new CustomEvent("topoforge:series", { detail: chosen }));
    render(lastResults);
  }

  var lastResults = [];
  function render(results) {
    lastResults = results;
    list.textContent = "";
    results.forEach(function (s) {
      var item = document.createElement("li");
      item.className = "series-item" + (same(chosen, s) ? " series-chosen" : "");
      item.setAttribute("role", "button");
      item.tabIndex = 0;
      item.dataset.series = s.series;
      item.dataset.source = s.source_type;
      var score = s.last_score === null ? "warming up" : s.last_score.toFixed(3);
      var anomaly = s.last_anomaly_at ? " · anomaly " + s.last_anomaly_at.replace("T", " ").replace(/\.\d+/, "").replace("Z", "") : "";
      item.textContent = label(s) + " — " + score + " · " + s.rows.toLocaleString() + " rows" + anomaly + (s.owner ? " · " + s.owner : "");
      item.addEventListener("click", function () { choose(s); });
      item.addEventListener("keydown", function (e) { if (e.key === "Enter") choose(s); });
      list.appendChild(item);
    });
    note.textContent = chosen ? "showing " + label(chosen) + " · click again for all series" : (results.length ? "click one to filter" : "no series yet");
  }

  function refresh() {
    fetch(panel.dataset.url + "?ordering=-last_score&limit=" + TOP, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (body) { render(body.results); })
      .catch(function () { note.textContent = "series unavailable"; });
  }

  refresh();
  setInterval(refresh, REFRESH_EVERY);
})();
