/* TopoForge dashboard: the latest incidents (GET /api/incidents), refreshed every 30 s; clicking
 * one opens its peak detection when the table holds it. No dependencies. */
(function () {
  "use strict";

  var REFRESH_EVERY = 30000;
  var SHOWN = 20;

  function node(tag, attrs, text) {
    var n = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    if (text !== undefined) n.textContent = text;
    return n;
  }
  function time(iso) { return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", "") : ""; }
  function duration(start, end) {
    var seconds = Math.max(0, (Date.parse(end) - Date.parse(start)) / 1000);
    return seconds < 120 ? Math.round(seconds) + " s" : Math.round(seconds / 60) + " min";
  }

  function render(incidents) {
    var list = document.getElementById("incidents"), empty = document.getElementById("incidents-empty");
    if (!list) return;
    list.textContent = "";
    empty.hidden = incidents.length > 0;
    incidents.forEach(function (incident) {
      var item = node("li", { "data-id": incident.id, "data-peak": incident.peak || "" });
      item.appendChild(node("span", { class: "incident-time" }, time(incident.started_at)));
      item.appendChild(node("span", { class: "incident-source" }, incident.source_type + (incident.series ? " · " + incident.series : "")));
      item.appendChild(node("span", { class: "incident-facts" },
        incident.row_count + (incident.row_count === 1 ? " row" : " rows") + " · " + duration(incident.started_at, incident.ended_at) +
        " · peak " + Number(incident.peak_score).toFixed(4)));
      item.addEventListener("click", function () {
        var row = document.querySelector('#detections tr[data-id="' + incident.peak + '"]');
        if (row) row.click();
      });
      list.appendChild(item);
    });
  }

  function refresh() {
    fetch("/api/incidents?limit=" + SHOWN, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(function (page) { render(page.results); })
      .catch(function () { var empty = document.getElementById("incidents-empty"); if (empty) { empty.hidden = false; empty.textContent = "Incidents unavailable."; } });
  }

  refresh();
  setInterval(refresh, REFRESH_EVERY);
})();
