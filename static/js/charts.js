/* Bar charts from data the server embeds with json_script.
 * <canvas data-chart="ID" data-stacked></canvas> reads
 * {"labels": [...], "datasets": [{"label": "...", "data": [...]}]} from <script id="ID">.
 * Every chart has a table of the same numbers next to it, so nothing depends on this. A chart
 * whose numbers are all zero shows its data-empty text ("No reviews yet") instead of axes.
 */
(function () {
  "use strict";
  var palette = ["#3b5bdb", "#2b8a3e", "#e67700", "#c92a2a", "#862e9c", "#0b7285", "#5c940d"];

  function draw(canvas) {
    if (canvas.dataset.drawn || typeof Chart === "undefined") return;
    var source = document.getElementById(canvas.dataset.chart);
    if (!source) return;
    var data = JSON.parse(source.textContent);
    var total = 0;
    data.datasets.forEach(function (set) { set.data.forEach(function (v) { total += v || 0; }); });
    if (!total) {
      // Bare axes read as broken: say there is nothing yet instead.
      var empty = document.createElement("div");
      empty.className = "chart-empty";
      empty.textContent = canvas.dataset.empty || "Nothing to show yet";
      canvas.dataset.drawn = "1";
      canvas.replaceWith(empty);
      return;
    }
    data.datasets.forEach(function (set, n) {
      set.backgroundColor = set.backgroundColor || palette[n % palette.length];
    });
    var stacked = canvas.hasAttribute("data-stacked");
    canvas.dataset.drawn = "1";
    new Chart(canvas, {
      type: "bar",
      data: data,
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: data.datasets.length > 1 } },
        scales: {
          x: { stacked: stacked },
          y: { stacked: stacked, beginAtZero: true, ticks: { precision: 0 } }
        }
      }
    });
  }

  function drawAll() { document.querySelectorAll("canvas[data-chart]").forEach(draw); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
  document.addEventListener("htmx:afterSettle", drawAll);
})();
