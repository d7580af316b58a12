/* TopoForge dashboard: why the selected detection scored as it did (its `explanation`), in words
 * and as a lifetime diagram against the series' noise band and typical diagram. Listens for the
 * dashboard's "topoforge:select" event; no dependencies. */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var WORDS_FOR = { h0: "H₀ (gaps)", h1: "H₁ (loops)", h2: "H₂ (voids)" };

  function node(tag, attrs, text) {
    var n = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    if (text !== undefined) n.textContent = text;
    return n;
  }
  function svg(tag, attrs, text) {
    var n = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { n.setAttribute(k, attrs[k]); });
    if (text !== undefined) n.textContent = text;
    return n;
  }
  function num(x) { return Number(x).toPrecision(3); }

  // Lifetime diagram: each feature at (birth, lifetime); a dashed line per dimension at the
  // series' noise band (features above it are the Betti numbers), a dotted one at the typical
  // longest lifetime of the series' windows.
  function lifetimeDiagram(diagram, explanation) {
    var points = [];
    ["h0", "h1", "h2"].forEach(function (dim) {
      ((diagram && diagram[dim]) || []).forEach(function (p) {
        if (isFinite(p[0]) && isFinite(p[1])) points.push({ dim: dim, b: p[0], life: p[1] - p[0] });
      });
    });
    var facts = explanation.diagram || {}, bands = facts.noise_band || {}, typical = facts.typical || {};
    var levels = Object.keys(bands).map(function (k) { return bands[k]; })
      .concat([typical.h0_max_persistence || 0, typical.h1_max_persistence || 0]);
    var size = 320, pad = 40, span = size - 2 * pad;
    var hiLife = Math.max.apply(null, [1e-9].concat(points.map(function (p) { return p.life; }), levels)) * 1.08;
    var hiBirth = Math.max.apply(null, [1e-9].concat(points.map(function (p) { return p.b; }))) * 1.08;
    var sx = function (v) { return pad + (v / hiBirth) * span; };
    var sy = function (v) { return size - pad - (v / hiLife) * span; };
    var root = svg("svg", { viewBox: "0 0 " + size + " " + size, role: "img", class: "explanation-diagram",
      "aria-label": "Lifetime diagram against the series' noise band" });
    root.appendChild(svg("line", { class: "axis", x1: pad, y1: size - pad, x2: size - pad, y2: size - pad }));
    root.appendChild(svg("line", { class: "axis", x1: pad, y1: pad, x2: pad, y2: size - pad }));
    root.appendChild(svg("text", { x: size / 2, y: size - 8, "text-anchor": "middle" }, "birth"));
    root.appendChild(svg("text", { x: 10, y: size / 2, transform: "rotate(-90 10 " + size / 2 + ")", "text-anchor": "middle" }, "lifetime"));
    [0, 0.5, 1].forEach(function (f) {
      root.appendChild(svg("text", { x: pad - 4, y: sy(f * hiLife) + 3, "text-anchor": "end" }, num(f * hiLife)));
    });
    Object.keys(bands).forEach(function (dim) {
      var y = sy(bands[dim]);
      root.appendChild(svg("line", { class: "band band-" + dim, x1: pad, x2: size - pad, y1: y, y2: y }));
      root.appendChild(svg("text", { class: "band-label", x: size - pad, y: y - 3, "text-anchor": "end" }, "noise band " + dim.toUpperCase()));
    });
    ["h0", "h1"].forEach(function (dim) {
      var value = typical[dim + "_max_persistence"];
      if (!value) return;
      var y = sy(value);
      root.appendChild(svg("line", { class: "typical typical-" + dim, x1: pad, x2: size - pad, y1: y, y2: y }));
      root.appendChild(svg("text", { class: "band-label", x: pad + 4, y: y - 3 }, "typical longest " + dim.toUpperCase()));
    });
    points.forEach(function (p) {
      var above = bands[p.dim] !== undefined && p.life > bands[p.dim];
      var c = svg("circle", { class: "pt-" + p.dim + (above ? " above-band" : ""), cx: sx(p.b), cy: sy(p.life), r: above ? 5 : 3.5 });
      c.appendChild(svg("title", {}, WORDS_FOR[p.dim] + " born " + num(p.b) + ", lives " + num(p.life)));
      root.appendChild(c);
    });
    return root;
  }

  function render(d) {
    var box = document.getElementById("explanation");
    if (!box) return;
    box.textContent = "";
    if (!d) return;
    box.appendChild(node("h3", {}, "Why it scored so"));
    var explanation = d.explanation || {};
    if (d.warming_up) {
      box.appendChild(node("p", { class: "explanation-text" }, "Warming up: the detector had too little past to score this row."));
      return;
    }
    if (!explanation.text) {
      box.appendChild(node("p", { class: "empty" }, "This detection carries no explanation."));
      return;
    }
    box.appendChild(node("p", { class: "explanation-text" }, explanation.text));
    var rare = explanation.rare_features || [];
    if (rare.length) {
      var list = node("ul", { class: "rare-features" });
      rare.forEach(function (item) {
        list.appendChild(node("li", {}, item.feature + " = " + num(item.value) + " · tail " + Number(item.tail).toPrecision(2)));
      });
      box.appendChild(list);
    }
    var diagram = (d.metadata && d.metadata.diagram) || (d.event_data && d.event_data.diagram) || null;
    box.appendChild(lifetimeDiagram(diagram, explanation));
  }

  document.addEventListener("topoforge:select", function (event) { render(event.detail); });
})();
