// The comparison chart: wins, ties and losses from the judge and from people (stacked), and
// the judge's mean per rubric criterion for each run. Data from the page's json_script block;
// the tables above say the same without JavaScript.
(function () {
  "use strict";
  const script = document.getElementById("comparison-data");
  const canvas = document.getElementById("comparison-chart");
  if (!script || !canvas || typeof Chart === "undefined") return;
  const data = JSON.parse(script.textContent);
  const labels = data.labels.concat(data.criteria.map((key) => "Judge: " + key));
  const pad = (values, count) => values.concat(new Array(count).fill(null));
  const before = (values, count) => new Array(count).fill(null).concat(values);
  const n = data.criteria.length;
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: labels,
      datasets: [
        { label: "A better", data: pad(data.a, n), backgroundColor: "#adb5bd", stack: "wins" },
        { label: "Tie / both bad", data: pad(data.ties, n), backgroundColor: "#ffd43b", stack: "wins" },
        { label: "B better", data: pad(data.b, n), backgroundColor: "#2b8a3e", stack: "wins" },
        { label: "A mean (1-5)", data: before(data.criteria_a, 2), backgroundColor: "#868e96", stack: "a" },
        { label: "B mean (1-5)", data: before(data.criteria_b, 2), backgroundColor: "#3b5bdb", stack: "b" },
      ],
    },
    options: {
      responsive: true,
      animation: false,
      scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } },
      plugins: { legend: { position: "bottom" } },
    },
  });
})();
