// Charts of the runs pages, drawn with the vendored uPlot (static/uPlot.iife.min.js, MIT, see uPlot.LICENSE):
// each chart is steps on x and one line per series; a new series rebuilds it, new points only redraw it.
"use strict";
const charts = {
  // the colours of the report pages (output/report_style.py COLOURS): run i (or series i) is always colour i
  COLOURS: ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"],
  WIDTH: 420,
  HEIGHT: 200,

  // A chart box in `parent` titled `title`; `draw(labels, data)` (re)draws it: labels of the series, data as uPlot
  // takes it ([steps, values of series 1, ...], nulls where a series has no value at a step).
  box(parent, title) {
    const element = document.createElement("div");
    element.className = "chart";
    element.dataset.chart = title;
    parent.appendChild(element);
    let plot = null;
    let shown = "";
    return {
      element,
      draw(labels, data) {
        const key = labels.join("\u0000");
        if (plot && key === shown) {
          plot.setData(data);
          return;
        }
        if (plot) plot.destroy();
        shown = key;
        const series = [{label: "step"}].concat(labels.map((label, i) => ({
          label, stroke: charts.COLOURS[i % charts.COLOURS.length], width: 1.5, spanGaps: true,
          points: {show: data[0].length < 60},
        })));
        plot = new uPlot({
          title, width: charts.WIDTH, height: charts.HEIGHT, series,
          scales: {x: {time: false}},
          axes: [{label: "step", size: 36}, {size: 56}],
          legend: {live: true},
        }, data, element);
      },
    };
  },

  // The order charts appear in: losses first, then the scores, speed, the rest.
  rank(title) {
    if (title === "losses") return 0;
    if (title === "images/s") return 8;
    if (title === "other metrics") return 9;
    return 1;
  },
};
