// The runs table: rows from the page, then new ones whenever a run changes (server-sent events from /events/runs);
// a click on a column head sorts by it, ticked runs open /compare.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const data = JSON.parse($("runs-data").textContent);
  const columns = data.columns;
  const chosen = new Set();
  let rows = data.rows;
  let sort = {key: null, descending: false};
  let shown = [];  // the rows in the order the table shows them: runs are compared in that order

  function cell(row, column) {
    const [text] = row.cells[column.key] || ["", null];
    const td = document.createElement("td");
    td.className = column.numeric ? "num" : column.key;
    if (column.key === "name" && row.link) {
      const a = document.createElement("a");
      a.href = `/runs/${encodeURIComponent(row.name)}`;
      a.textContent = text;
      td.appendChild(a);
    } else if (column.key === "what" && row.problem && text !== row.problem) {
      td.textContent = text;
      const line = document.createElement("div");
      line.className = "problem";
      line.textContent = `problem: ${row.problem}`;
      td.appendChild(line);
    } else {
      td.textContent = text;
      // red for a run that cannot be read; a running run's "no last.pt yet" is only news (as in `ganstudio runs`)
      if (column.key === "what" && row.problem) td.classList.add(row.status === "running" ? "muted" : "problem");
      if (column.key === "status") td.classList.add(`status-${row.status.split(" ")[0]}`);
    }
    return td;
  }

  // Values a column sorts by: numbers as numbers, text as text; a run without one is listed last either way.
  function sorted(list) {
    if (!sort.key) return list;
    const value = (row) => (row.cells[sort.key] || [null, null])[1];
    const present = list.filter((row) => value(row) != null && value(row) !== "");
    const missing = list.filter((row) => value(row) == null || value(row) === "");
    present.sort((a, b) => {
      const x = value(a), y = value(b);
      const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return sort.descending ? -order : order;
    });
    return present.concat(missing);
  }

  function render() {
    const body = $("runs").tBodies[0];
    shown = sorted(rows);
    body.replaceChildren(...shown.map((row) => {
      const tr = document.createElement("tr");
      tr.dataset.name = row.name;
      tr.dataset.status = row.status;
      const pick = document.createElement("td");
      pick.className = "pick";
      const box = document.createElement("input");
      box.type = "checkbox";
      box.value = row.name;
      box.disabled = !row.link;
      box.checked = chosen.has(row.name);
      box.setAttribute("aria-label", `compare ${row.name}`);
      box.addEventListener("change", () => {
        box.checked ? chosen.add(row.name) : chosen.delete(row.name);
        showChosen();
      });
      pick.appendChild(box);
      tr.appendChild(pick);
      columns.forEach((column) => tr.appendChild(cell(row, column)));
      return tr;
    }));
    $("no-runs").hidden = rows.length > 0;
    for (const th of $("runs").tHead.rows[0].cells) {
      th.dataset.sorted = th.dataset.key === sort.key ? (sort.descending ? "down" : "up") : "";
    }
  }

  const chosenNames = () => shown.map((row) => row.name).filter((name) => chosen.has(name));

  function showChosen() {
    const names = chosenNames();
    $("compare").disabled = names.length < 2;
    $("chosen").textContent = names.length ? `${names.length} chosen` : "";
  }

  for (const th of $("runs").tHead.rows[0].cells) {
    if (!th.dataset.key) continue;
    th.addEventListener("click", () => {
      const numeric = th.classList.contains("num");
      sort = sort.key === th.dataset.key ? {key: sort.key, descending: !sort.descending}
                                         : {key: th.dataset.key, descending: numeric};  // numbers: largest first
      render();
    });
  }
  $("compare").addEventListener("click", () => {
    location.href = "/compare?" + chosenNames().map((name) => `run=${encodeURIComponent(name)}`).join("&");
  });
  render();

  const events = new EventSource("/events/runs");
  events.addEventListener("rows", (event) => {
    const update = JSON.parse(event.data);
    rows = update.rows;
    $("runs").dataset.updates = Number($("runs").dataset.updates || 0) + 1;  // how many updates came (tests wait)
    studio.showProblem($("runs-problem"), update.problem ? new Error(update.problem) : null);
    render();
    showChosen();
  });
  events.onopen = () => { $("live").textContent = "live"; $("live").classList.remove("off"); };
  events.onerror = () => { $("live").textContent = "reconnecting"; $("live").classList.add("off"); };
  // closed when the page is left, so a page kept in the back/forward cache holds no connection to the studio
  window.addEventListener("pagehide", () => events.close());
})();
