// Runs compared: their grids at the steps they all saved one (a slider over those steps) and each metric's curves
// overlaid, one colour per run (the colours of the score table's swatches).
"use strict";
(async () => {
  const $ = (id) => document.getElementById(id);
  const page = JSON.parse($("compare-data").textContent);
  const slider = $("shared-step");

  function showStep(index) {
    const step = page.shared[index];
    $("compare-step").textContent = step.toLocaleString("en");
    for (const img of document.querySelectorAll("img.compare-grid")) {
      img.src = `/runs/${encodeURIComponent(img.dataset.run)}/grid/${step}.png`;
    }
  }
  if (slider) {
    slider.addEventListener("input", () => showStep(Number(slider.value)));
    showStep(Number(slider.value));
  }

  // key -> {title, label, tables: one [steps, values] per run (empty for a run without the key)}
  const keys = {};
  const problems = [];
  const runs = await Promise.all(page.names.map((name) =>
    studio.json(`/runs/${encodeURIComponent(name)}/metrics`).catch((error) => ({error}))));
  runs.forEach((run, i) => {
    if (run.error || run.problem) problems.push(`${page.names[i]}: ${run.error ? run.error.message : run.problem}`);
    for (const [key, [title, label]] of Object.entries(run.charts || {})) {
      keys[key] = keys[key] || {title, label, tables: page.names.map(() => [[], []])};
      for (const point of run.points) {
        if (key in point.v) {
          keys[key].tables[i][0].push(point.step);
          keys[key].tables[i][1].push(point.v[key]);
        }
      }
    }
  });
  studio.showProblem($("metrics-problem"), problems.length ? new Error(problems.join("; ")) : null);
  const ordered = Object.entries(keys).sort(([a, x], [b, y]) => charts.rank(x.title) - charts.rank(y.title) ||
    a.localeCompare(b));
  for (const [, entry] of ordered) {
    const tables = entry.tables.map((t) => (t[0].length ? t : [[0], [null]]));  // uPlot.join needs a point per run
    charts.box($("charts"), entry.label).draw(page.names, uPlot.join(tables));
  }
  if (!ordered.length) $("charts").innerHTML = '<p class="muted">No metrics logged.</p>';
})();
