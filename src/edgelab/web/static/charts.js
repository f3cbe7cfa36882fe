// Draws every <div class="chart" data-series='[...]'> with TradingView's Lightweight Charts
// (installed by `make assets`). Series data are in the library's own format:
// [{"type": "line"|"area"|"histogram", "name": "...", "data": [{"time": ..., "value": ...}]}].
// Runs on load and after every htmx swap; a drawn chart gets data-rendered="true".
(function () {
  "use strict";
  var COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c"];

  function draw(el) {
    if (el.dataset.rendered === "true" || !window.LightweightCharts) return;
    var series;
    try { series = JSON.parse(el.dataset.series || "[]"); } catch (e) { return; }
    var LC = window.LightweightCharts;
    el.innerHTML = "";
    var chart = LC.createChart(el, {
      autoSize: true,
      layout: { background: { color: "transparent" }, textColor: "#334155" },
      grid: { vertLines: { color: "#eef2f7" }, horzLines: { color: "#eef2f7" } },
      rightPriceScale: { borderVisible: false },
      timeScale: { borderVisible: false, timeVisible: true },
    });
    var drawn = 0;
    series.forEach(function (s, i) {
      var colour = s.color || COLOURS[i % COLOURS.length];
      var kind = s.type === "area" ? LC.AreaSeries : s.type === "histogram" ? LC.HistogramSeries : LC.LineSeries;
      var options = kind === LC.AreaSeries
        ? { lineColor: colour, topColor: colour + "55", bottomColor: colour + "05", title: s.name || "" }
        : { color: colour, title: s.name || "" };
      if (s.priceScaleId) options.priceScaleId = s.priceScaleId;
      var added = chart.addSeries(kind, options);
      added.setData(s.data || []);
      drawn += (s.data || []).length;
    });
    chart.timeScale().fitContent();
    el.dataset.rendered = "true";
    el.dataset.points = String(drawn);
  }

  function drawAll(root) {
    (root || document).querySelectorAll(".chart[data-series]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:afterSwap", function (e) { drawAll(e.target); });
  window.edgelabDrawCharts = drawAll;
})();
