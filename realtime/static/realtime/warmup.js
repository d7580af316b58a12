/* The detector's warm-up on the dashboard: a progress bar to the first scored window.
 *
 * A stream's detector scores nothing for its first windows (159 by default: 26.5 minutes of 10 s
 * buckets); each row it stores says how far it is (metadata.warm_up = {windows, needed}) and
 * whether it is still warming up. dashboard.js fires "topoforge:detections" with the rows the page
 * holds; for each source whose newest row is still warming up this shows "N of M windows" and the
 * time left at that source's bucket width. Nothing shows once every source is scored. */
(function () {
  "use strict";

  var box = document.getElementById("warmup");
  if (!box) return;

  function minutes(seconds) {
    return seconds < 90 ? Math.max(1, Math.round(seconds)) + " s" : Math.round(seconds / 60) + " min";
  }

  function render(detections) {
    var newest = {};
    detections.forEach(function (d) { newest[d.source_type] = d; }); // sorted oldest first
    box.textContent = "";
    var warming = Object.keys(newest).map(function (s) { return newest[s]; }).filter(function (d) { return d.warming_up; });
    if (!detections.length) warming = [null];
    warming.forEach(function (d) {
      var progress = d && d.metadata && d.metadata.warm_up;
      var item = document.createElement("div"); item.className = "warmup-item";
      var label = document.createElement("span"); label.className = "warmup-label";
      var bar = document.createElement("progress"); bar.className = "warmup-bar"; bar.max = 1;
      if (!d) {
        label.textContent = "Waiting for the detector's first window (a stream is scored after its warm-up).";
        bar.removeAttribute("value");
      } else if (progress) {
        var left = Math.max(0, progress.needed - progress.windows + 1);
        var bucket = (d.metadata && d.metadata.bucket_seconds) || 10;
        bar.max = progress.needed + 1; bar.value = Math.min(progress.windows, progress.needed);
        label.textContent = d.source_type + " warming up: " + Math.min(progress.windows, progress.needed) + " of " +
          progress.needed + " windows · first score in about " + minutes(left * bucket);
      } else {
        label.textContent = d.source_type + " warming up: its scores start once the detector has seen enough windows.";
        bar.removeAttribute("value");
      }
      item.appendChild(label); item.appendChild(bar); box.appendChild(item);
    });
    box.hidden = !warming.length;
  }

  document.addEventListener("topoforge:detections", function (event) { render(event.detail.detections); });
})();
