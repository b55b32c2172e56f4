// pycorpus serve: results as you type. Pages work without this script; it only fetches the
// server's own escaped HTML fragments and JSON, and builds everything else with textContent.
"use strict";
(function () {
  const form = document.getElementById("search");
  const results = document.getElementById("results");

  // "+N other files": the files of every release holding the blob, fetched when opened.
  document.addEventListener("toggle", (e) => {
    const d = e.target;
    if (!(d instanceof HTMLDetailsElement) || !d.classList.contains("others") || !d.open || d.dataset.loaded) return;
    d.dataset.loaded = "1";
    fetch("/api/blob/" + encodeURIComponent(d.dataset.oid) + "/files").then((r) => r.json()).then((j) => {
      const ul = document.createElement("ul");
      for (const f of j.files || []) {
        const li = document.createElement("li");
        const a = document.createElement("a");
        a.href = "/project/" + encodeURIComponent(f.project_name) + "/" + encodeURIComponent(f.project_release);
        a.textContent = f.project_name + " " + f.project_version;
        li.append(a, " " + f.path);
        ul.append(li);
      }
      const box = d.querySelector(".holders");
      box.replaceChildren(ul);
      if (j.total > (j.files || []).length) box.append((j.files || []).length + " of " + j.total + " shown");
    }).catch(() => {});
  }, true);

  if (!form || !results) return;
  let running = null;
  let timer = null;

  function params() {
    const p = new URLSearchParams();
    for (const [k, v] of new FormData(form)) if (String(v).trim() !== "") p.append(k, v);
    return p;
  }

  function message(text) {
    const p = document.createElement("p");
    p.className = "error";
    p.id = "error";
    p.textContent = text;
    results.replaceChildren(p);
  }

  async function run(push) {
    const p = params();
    const url = "/search" + (p.toString() ? "?" + p : "");
    if (push) history.pushState(null, "", url); else history.replaceState(null, "", url);
    if (running) running.abort();
    if (!p.get("q")) { results.replaceChildren(); running = null; return; }
    const ctl = new AbortController();
    running = ctl;
    results.setAttribute("aria-busy", "true");
    try {
      const r = await fetch("/search/results?" + p, { signal: ctl.signal });
      if (!r.ok) {
        let text = r.status === 503 ? "The server is busy: trying again in a moment." : "Error " + r.status;
        try { text = (await r.json()).error || text; } catch (_) {}
        message(text);
        if (r.status === 503) setTimeout(() => { if (running === ctl) run(false); }, 1000);
        return;
      }
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = "", first = true;
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += dec.decode(value, { stream: true });
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line) continue;
          const item = JSON.parse(line);
          if (first) { results.replaceChildren(); first = false; }
          // Server-rendered and escaped by its templates.
          results.insertAdjacentHTML("beforeend", item.html);
        }
      }
    } catch (e) {
      if (e.name !== "AbortError") message("The search failed: " + e.message);
    } finally {
      if (running === ctl) { results.removeAttribute("aria-busy"); running = null; }
    }
  }

  form.addEventListener("submit", (e) => { e.preventDefault(); clearTimeout(timer); run(true); });
  form.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => run(false), 200); });
  form.addEventListener("change", () => { clearTimeout(timer); timer = setTimeout(() => run(false), 50); });
  window.addEventListener("popstate", () => {
    const p = new URLSearchParams(location.search);
    for (const el of form.elements) {
      if (!el.name) continue;
      if (el.type === "checkbox") el.checked = p.get(el.name) === el.value; else el.value = p.get(el.name) || "";
    }
    run(false);
  });
})();
