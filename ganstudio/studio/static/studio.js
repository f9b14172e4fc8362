// What every studio page shares: the session token (from the page's meta tag) on every request that changes
// something, the one-line problem shown where the page asks, and escaping for text read from runs.
"use strict";
const studio = {
  token: document.querySelector('meta[name="ganstudio-token"]').content,

  // fetch with the token header; a non-2xx answer becomes an Error whose message is the server's one line.
  async request(url, options = {}) {
    const headers = Object.assign({"X-Ganstudio-Token": studio.token}, options.headers || {});
    const response = await fetch(url, Object.assign({}, options, {headers, credentials: "same-origin"}));
    if (!response.ok) {
      let line = (await response.text()).trim();
      try { line = JSON.parse(line).error || line; } catch (e) { /* plain text */ }
      throw new Error(line || `${response.status} ${response.statusText}`);
    }
    return response;
  },

  async json(url, options = {}) {
    return (await studio.request(url, options)).json();
  },

  async post(url, body) {
    return studio.json(url, {method: "POST", headers: {"Content-Type": "application/json"},
                             body: JSON.stringify(body || {})});
  },

  // text read from a run, safe to put into innerHTML
  escape(text) {
    const div = document.createElement("div");
    div.textContent = text == null ? "" : String(text);
    return div.innerHTML;
  },

  showProblem(element, error) {
    element.textContent = error ? (error.message || String(error)) : "";
    element.hidden = !error;
  },
};
