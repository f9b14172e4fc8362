// The Train page: the form (the model's declared options re-rendered when the model changes), the trainings this
// studio started (polled), Stop (Ctrl-C's clean save) and Resume. Text from runs and logs goes in as textContent.
"use strict";
const train = {
  init: JSON.parse(document.getElementById("train-init").textContent),
  el: (id) => document.getElementById(id),
  fields: [],

  make(tag, props = {}, text = null) {
    const node = Object.assign(document.createElement(tag), props);
    if (text != null) node.textContent = text;
    return node;
  },

  renderOptions(model, fields) {
    train.fields = fields;
    const box = train.el("train-option-fields");
    box.replaceChildren();
    train.el("train-options-model").textContent = model;
    if (!fields.length) box.append(train.make("span", {className: "muted"}, "this model declares no options"));
    for (const f of fields) {
      const label = train.make("label", {className: "train-option", title: f.help});
      label.append(train.make("span", {className: "train-option-name"}, f.name));
      let input;
      if (f.bool) {
        input = train.make("select");
        for (const v of ["true", "false"]) input.append(train.make("option", {value: v}, v));
      } else {
        input = train.make("input", {size: 9, placeholder: f.type});
      }
      input.value = f.default;
      input.dataset.option = f.name;
      input.dataset.default = f.default;
      input.addEventListener("input", train.preview);
      label.append(input);
      if (f.dataset_default) label.append(train.make("span", {className: "muted"}, " (the data's)"));
      box.append(label);
    }
    train.preview();
  },

  async loadOptions() {
    const data = train.el("train-data").value, model = train.el("train-model").value;
    train.el("train-name").placeholder = `${data}-${model}`;
    try {
      const answer = await studio.json(`/train/options?data=${encodeURIComponent(data)}&model=${encodeURIComponent(model)}`);
      train.renderOptions(answer.model, answer.options);
      studio.showProblem(train.el("train-problem"), null);
    } catch (err) {
      studio.showProblem(train.el("train-problem"), err);
    }
  },

  form() {
    const options = {};
    for (const input of document.querySelectorAll("[data-option]")) options[input.dataset.option] = input.value;
    return {data: train.el("train-data").value, model: train.el("train-model").value,
            name: train.el("train-name").value.trim(), options,
            steps: train.el("train-steps").value.trim(), minutes: train.el("train-minutes").value.trim()};
  },

  // the command a person would type for this form (the studio adds its folders)
  preview() {
    const f = train.form();
    const parts = ["ganstudio train", `--data ${f.data}`, `--model ${f.model}`, `--name ${f.name || `${f.data}-${f.model}`}`];
    for (const input of document.querySelectorAll("[data-option]")) {
      if (input.value.trim() !== input.dataset.default) parts.push(`--model-option ${input.dataset.option}=${input.value.trim()}`);
    }
    if (f.steps) parts.push(`--steps ${f.steps}`);
    if (f.minutes) parts.push(`--minutes ${f.minutes}`);
    train.el("train-command").textContent = parts.join(" ");
  },

  async launch(url, body, problemEl, button) {
    button.disabled = true;
    train.el("train-busy").hidden = false;
    studio.showProblem(problemEl, null);
    try {
      await studio.post(url, body);
    } catch (err) {
      studio.showProblem(problemEl, err);
    } finally {
      button.disabled = false;
      train.el("train-busy").hidden = true;
      train.refresh();
    }
  },

  row(t) {
    const tr = train.make("tr", {className: "train-process"});
    tr.dataset.name = t.name;
    const link = train.make("a", {href: `/runs/${encodeURIComponent(t.name)}`}, t.name);
    const first = train.make("td");
    first.append(link);
    if (t.resumed) first.append(train.make("span", {className: "muted"}, " (resumed)"));
    const state = train.make("td", {className: `train-state status-${t.state}`}, t.state);
    if (t.problem) state.title = t.problem;
    const latest = train.make("td", {className: "train-latest", title: t.command}, t.problem || t.latest);
    const actions = train.make("td");
    if (t.state === "running" || t.state === "starting") {
      const stop = train.make("button", {className: "train-stop"}, "Stop");
      stop.addEventListener("click", () => train.stop(t.name, stop));
      actions.append(stop);
    } else if (t.state === "stopped") {
      const again = train.make("button", {className: "train-resume"}, "Resume");
      again.addEventListener("click", () => train.launch("/train/resume", {name: t.name, ...t.budget},
                                                         train.el("train-list-problem"), again));
      actions.append(again);
    }
    tr.append(first, state, latest, train.make("td", {}, t.started), actions);
    return tr;
  },

  async stop(name, button) {
    button.disabled = true;
    button.textContent = "Stopping…";
    try {
      await studio.post("/train/stop", {name});
      studio.showProblem(train.el("train-list-problem"), null);
    } catch (err) {
      studio.showProblem(train.el("train-list-problem"), err);
    }
    train.refresh();
  },

  async refresh() {
    try {
      const answer = await studio.json("/train/processes");
      train.el("train-list").querySelector("tbody").replaceChildren(...answer.trainings.map(train.row));
      train.el("train-none").hidden = answer.trainings.length > 0;
      const select = train.el("resume-name"), chosen = select.value;
      select.replaceChildren(...answer.resumable.map((n) => train.make("option", {value: n}, n)));
      if (!answer.resumable.length) select.append(train.make("option", {value: ""}, "(no saved run)"));
      if (answer.resumable.includes(chosen)) select.value = chosen;
      train.el("resume-start").disabled = !answer.resumable.length;
    } catch (err) {
      studio.showProblem(train.el("train-list-problem"), err);
    }
  },

  start() {
    train.el("train-data").addEventListener("change", () => {
      const d = train.init.datasets.find((x) => x.name === train.el("train-data").value);
      if (d && train.init.models.some((m) => m.name === d.default_model)) train.el("train-model").value = d.default_model;
      train.loadOptions();
    });
    train.el("train-model").addEventListener("change", train.loadOptions);
    for (const id of ["train-name", "train-steps", "train-minutes"]) train.el(id).addEventListener("input", train.preview);
    train.el("train-form").addEventListener("submit", (e) => {
      e.preventDefault();
      train.launch("/train/start", train.form(), train.el("train-problem"), train.el("train-start"));
    });
    train.el("resume-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const body = {name: train.el("resume-name").value, steps: train.el("resume-steps").value.trim(),
                    minutes: train.el("resume-minutes").value.trim()};
      train.launch("/train/resume", body, train.el("resume-problem"), train.el("resume-start"));
    });
    train.renderOptions(train.init.model, train.init.options);
    train.refresh();
    setInterval(train.refresh, 1000);  // a started or stopped run shows its new state within a second
  },
};
train.start();
