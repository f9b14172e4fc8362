// The explore page: every control change asks the server for PNGs (image.png, between.png, grid.png) and shows
// each with its seed, its PNG link and the `ganstudio sample` command the server sends in X-Ganstudio-Command.
// Seeds stay strings (BigInt where one is added to), so seeds past 2^53 keep every digit.
"use strict";
(function () {
  const root = document.getElementById("explore");
  const $ = (id) => document.getElementById(id);
  const problem = $("explore-problem");
  const base = `/explore/${encodeURIComponent(root.dataset.run)}/`;
  const scales = {main: root.dataset.scaleMain, between: root.dataset.scaleBetween, cell: root.dataset.scaleCell};
  const hasClasses = Number(root.dataset.classes) > 0;

  function url(endpoint, params) {
    const query = new URLSearchParams({checkpoint: root.dataset.checkpoint});
    for (const [key, value] of Object.entries(params)) {
      if (value !== null && value !== undefined && value !== "") query.set(key, value);
    }
    return base + endpoint + "?" + query.toString();
  }

  function common() {
    return {
      truncation: $("truncation-on").checked ? $("truncation").value : null,
      class: hasClasses ? $("class").value : null,
    };
  }

  function seedPlus(seed, n) {
    return /^\d{1,19}$/.test(seed) ? (BigInt(seed) + BigInt(n)).toString() : seed;
  }

  // One request per figure at a time: a slider dragged past ten seeds asks for the last one, not all ten.
  function show(figure, address, caption) {
    figure._next = {address, caption};
    if (!figure._busy) pump(figure);
  }

  async function pump(figure) {
    figure._busy = true;
    while (figure._next) {
      const {address, caption} = figure._next;
      figure._next = null;
      await load(figure, address, caption);
    }
    figure._busy = false;
  }

  async function load(figure, address, caption) {
    try {
      const response = await studio.request(address);
      const blob = await response.blob();
      const img = figure.querySelector("img");
      const old = img.src;
      await new Promise((resolve) => {
        img.onload = img.onerror = resolve;
        img.src = URL.createObjectURL(blob);
      });
      if (old.startsWith("blob:")) URL.revokeObjectURL(old);
      const command = decodeURIComponent(response.headers.get("X-Ganstudio-Command") || "");
      figure.querySelector(".seed").textContent = caption;
      const link = figure.querySelector("a.png");
      link.href = address + "&download=1";
      link.download = response.headers.get("X-Ganstudio-File") || "image.png";
      figure.querySelector(".command").textContent = command ||
        "no ganstudio sample command makes an in-between image; the images beside it are its two ends";
      img.title = command;
      figure.dataset.shown = address;  // what the tests wait for
      studio.showProblem(problem, null);
    } catch (error) {
      figure.dataset.shown = "";
      studio.showProblem(problem, error);
    }
  }

  function classCaption(params) {
    if (!hasClasses || params.class === "") return "";
    return " · class " + $("class").selectedOptions[0].textContent;
  }

  function truncCaption(params) {
    return params.truncation ? ` · truncation ${params.truncation}` : "";
  }

  function showMain() {
    const seed = $("seed").value.trim();
    const params = Object.assign({seed, scale: scales.main}, common());
    show($("main-figure"), url("image.png", params), `seed ${seed}${truncCaption(params)}${classCaption(params)}`);
    if (hasClasses) showPerClass();
  }

  function cell(row, column) {
    const td = document.createElement("td");
    td.innerHTML = '<figure class="explore-figure cell"><img class="pixelated" alt="">' +
      '<figcaption><span class="seed"></span> · <a class="png" download>PNG</a>' +
       ' · <details><summary>cmd</summary><code class="command"></code></details></figcaption></figure>';
    td.querySelector("img").addEventListener("click", () => {
      $("seed").value = seedPlus($("seed").value.trim(), column);
      $("class").value = row.dataset.class;
      syncSlider();
      showMain();
    });
    return td;
  }

  function showPerClass() {
    const columns = Math.max(1, Math.min(16, Number($("columns").value) || 1));
    const seed = $("seed").value.trim();
    const params = common();
    for (const row of $("per-class").querySelectorAll("tr")) {
      while (row.cells.length - 1 > columns) row.deleteCell(-1);
      while (row.cells.length - 1 < columns) row.appendChild(cell(row, row.cells.length - 1));
      for (let c = 0; c < columns; c++) {
        const cellSeed = seedPlus(seed, c);
        const address = url("image.png", {seed: cellSeed, truncation: params.truncation, class: row.dataset.class,
                                          scale: scales.cell});
        show(row.cells[c + 1].querySelector("figure"), address, `seed ${cellSeed}`);
      }
    }
    if ($("whole-grid").open) {
      const address = url("grid.png", {seed, columns, truncation: params.truncation});
      show($("grid-figure"), address, `seeds ${seed} to ${seedPlus(seed, columns - 1)}, one per column`);
    }
  }

  function showBetween() {
    const a = $("seed-a").value.trim(), b = $("seed-b").value.trim(), t = $("t").value;
    const params = Object.assign({scale: scales.between}, common());
    $("t-value").textContent = t;
    const tail = truncCaption(params) + classCaption(params);
    show($("a-figure"), url("image.png", Object.assign({seed: a}, params)), `seed A ${a}${tail}`);
    show($("between-figure"), url("between.png", Object.assign({a, b, t}, params)), `A to B, t = ${t}`);
    show($("b-figure"), url("image.png", Object.assign({seed: b}, params)), `seed B ${b}${tail}`);
  }

  function syncSlider() {
    const seed = $("seed").value.trim();
    if (/^\d+$/.test(seed) && Number(seed) <= Number($("seed-slider").max)) $("seed-slider").value = seed;
  }

  $("seed-slider").addEventListener("input", () => { $("seed").value = $("seed-slider").value; showMain(); });
  $("seed").addEventListener("change", () => { syncSlider(); showMain(); });
  $("truncation-on").addEventListener("change", () => {
    $("truncation").disabled = !$("truncation-on").checked;
    $("truncation-value").textContent = $("truncation-on").checked ? $("truncation").value : "off";
    showMain(); showBetween();
  });
  $("truncation").addEventListener("input", () => {
    $("truncation-value").textContent = $("truncation").value;
    showMain(); showBetween();
  });
  if (hasClasses) {
    $("class").addEventListener("change", () => { showMain(); showBetween(); });
    $("columns").addEventListener("change", showPerClass);
    $("whole-grid").addEventListener("toggle", showPerClass);
  }
  for (const id of ["seed-a", "seed-b"]) $(id).addEventListener("change", showBetween);
  $("t").addEventListener("input", showBetween);
  showMain();
  showBetween();
})();
