// Loss curves of a fine-tune: training and validation loss against the step.
// The data comes from the json_script block inside the live part of the page, which htmx
// swaps every few seconds while the job runs; the chart is updated in place from it.
(function () {
  "use strict";

  const SERIES = [
    { key: "train_loss", label: "Training loss", color: "#3b5bdb", points: 0 },
    { key: "valid_loss", label: "Validation loss", color: "#e8590c", points: 0 },
    { key: "full_valid_loss", label: "Full validation loss", color: "#2b8a3e", points: 3 },
  ];
  let chart = null;

  function readCurve() {
    const script = document.getElementById("finetune-curve");
    if (!script) return null;
    try {
      return JSON.parse(script.textContent);
    } catch (error) {
      return null;
    }
  }

  function datasets(curve) {
    return SERIES.filter((series) => (curve[series.key] || []).some((v) => v !== null)).map(
      (series) => ({
        label: series.label,
        data: curve.steps
          .map((step, i) => ({ x: step, y: curve[series.key][i] }))
          .filter((point) => point.y !== null),
        borderColor: series.color,
        backgroundColor: series.color,
        borderWidth: series.points ? 0 : 1.5,
        showLine: !series.points,
        pointRadius: series.points,
        tension: 0,
      })
    );
  }

  function render() {
    const canvas = document.getElementById("loss-chart");
    const empty = document.getElementById("loss-chart-empty");
    const curve = readCurve();
    if (!canvas || !curve || typeof window.Chart === "undefined") return;
    const hasData = curve.steps.length > 0;
    if (empty) empty.hidden = hasData;
    canvas.parentElement.hidden = !hasData;
    if (!hasData) return;
    if (chart) {
      chart.data.datasets = datasets(curve);
      chart.update("none");
      return;
    }
    chart = new window.Chart(canvas, {
      type: "line",
      data: { datasets: datasets(curve) },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: "nearest", axis: "x", intersect: false },
        scales: {
          x: { type: "linear", title: { display: true, text: "Step" } },
          y: { title: { display: true, text: "Loss" } },
        },
        plugins: { legend: { position: "bottom" } },
      },
    });
    canvas.dataset.rendered = "true";
  }

  document.addEventListener("DOMContentLoaded", render);
  document.addEventListener("htmx:afterSettle", render);
})();
