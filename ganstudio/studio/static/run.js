// A run, live: its state and new metrics records arrive through /runs/<name>/events (server-sent events), so the
// step, speed, ETA, scores, grids and charts grow while the run trains, without reloading the page.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const page = JSON.parse($("run-data").textContent);
  const base = `/runs/${encodeURIComponent(page.name)}`;
  let grids = [];
  let followNewest = true;  // the timeline stays on the newest grid until someone moves it

  function showGrid(index) {
    if (!grids.length) return;
    index = Math.max(0, Math.min(index, grids.length - 1));
    $("timeline").value = index;
    $("grid").src = `${base}/grid/${grids[index]}.png`;
    $("grid-step").textContent = grids[index].toLocaleString("en");
    $("grid-count").textContent = `(${index + 1} of ${grids.length})`;
  }

  function showGrids(steps) {
    const changed = steps.join() !== grids.join();
    grids = steps;
    $("grid").hidden = $("no-grid").hidden = false;
    $(grids.length ? "no-grid" : "grid").hidden = true;
    $("timeline-box").hidden = grids.length < 2;
    $("timeline").max = Math.max(grids.length - 1, 0);
    if (changed && (followNewest || !$("grid").getAttribute("src"))) showGrid(grids.length - 1);
  }

  function showScores(state) {
    const table = $("scores");
    const rows = state.scores || [];
    $("no-scores").hidden = rows.length > 0;
    const steps = rows.length ? rows[0].steps : [null, null];
    const at = (step) => (step == null ? "" : ` (step ${Number(step).toLocaleString("en")})`);
    table.innerHTML = rows.length ? `<tr><th>score</th><th class="num">latest${at(steps[0])}</th>` +
      `<th class="num">best${at(steps[1])}</th><th>better</th></tr>` + rows.map((r) =>
        `<tr><td>${studio.escape(r.label)}</td><td class="num">${studio.escape(r.latest)}</td>` +
        `<td class="num">${studio.escape(r.best)}</td><td>${studio.escape(r.better)}</td></tr>`).join("") : "";
    $("floor").hidden = !state.floor;
    $("floor").textContent = state.floor ?
      `The floor: real held-out images score ${state.floor} against the same training images.` : "";
  }

  function showState(state) {
    $("status").textContent = state.status_text;
    $("status").className = `badge status-${state.status.split(" ")[0]}`;
    $("what").textContent = state.what;
    studio.showProblem($("problem"), state.problem ? new Error(state.problem) : null);
    $("note").textContent = state.note || "";
    $("note").hidden = !state.note;
    $("step").textContent = state.step.toLocaleString("en");
    $("of-target").textContent = state.target ? ` / ${state.target.toLocaleString("en")}` : "";
    $("percent").textContent = state.percent == null ? "" : `${state.percent.toFixed(1)}%`;
    $("progress").value = state.percent || 0;
    $("speed").textContent = state.images_per_s;
    $("eta").textContent = state.eta;
    $("elapsed").textContent = state.elapsed;
    showScores(state);
    showGrids(state.grids || []);
  }

  // chart title -> {box, keys, labels, steps, values: key -> []}
  let drawn = {};
  function addPoints(message) {
    if (message.reset) {
      $("charts").innerHTML = "";
      drawn = {};
    }
    const titles = Object.entries(message.charts).map(([key, [title, label]]) => {
      let chart = drawn[title];
      if (!chart) {
        $("no-metrics")?.remove();
        chart = drawn[title] = {box: charts.box($("charts"), title), keys: [], labels: [], steps: [], values: {}};
        const boxes = Array.from($("charts").children);
        boxes.sort((a, b) => charts.rank(a.dataset.chart) - charts.rank(b.dataset.chart));
        boxes.forEach((box) => $("charts").appendChild(box));
      }
      if (!chart.keys.includes(key)) {
        chart.keys.push(key);
        chart.labels.push(label);
        chart.values[key] = chart.steps.map(() => null);
      }
      return title;
    });
    const touched = new Set(titles);
    for (const point of message.points) {
      for (const [title, chart] of Object.entries(drawn)) {
        if (!chart.keys.some((key) => key in point.v)) continue;
        chart.steps.push(point.step);
        chart.keys.forEach((key) => chart.values[key].push(key in point.v ? point.v[key] : null));
        touched.add(title);
      }
    }
    for (const title of touched) {
      const chart = drawn[title];
      chart.box.draw(chart.labels, [chart.steps, ...chart.keys.map((key) => chart.values[key])]);
    }
  }

  $("timeline").addEventListener("input", (event) => {
    followNewest = Number(event.target.value) === grids.length - 1;
    showGrid(Number(event.target.value));
  });
  showState(page.state);

  const events = new EventSource(`${base}/events`);
  events.addEventListener("state", (event) => showState(JSON.parse(event.data)));
  events.addEventListener("metrics", (event) => addPoints(JSON.parse(event.data)));
  events.addEventListener("problem", (event) => {
    studio.showProblem($("metrics-problem"), new Error(JSON.parse(event.data).error));
  });
  events.onopen = () => { $("live").textContent = "live"; $("live").classList.remove("off"); };
  events.onerror = () => { $("live").textContent = "reconnecting"; $("live").classList.add("off"); };
  // closed when the page is left, so a page kept in the back/forward cache holds no connection to the studio
  window.addEventListener("pagehide", () => events.close());
})();
