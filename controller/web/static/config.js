// The configuration page: every key the station shows, grouped by category; a change is posted with the
// CSRF token and its answer (Accepted, RebootRequired, Rejected, NotSupported) shown beside the key.
"use strict";

function editor(key) {
  if (key.access === "R") return null;
  const id = "key-" + key.name;
  let input;
  if (key.type === "bool" || key.type === "enum") {
    input = cp.el("select", { id, name: "value" });
    for (const o of key.type === "bool" ? ["true", "false"] : key.options) {
      const opt = cp.el("option", { value: o }, o);
      if (o.toLowerCase() === String(key.value).toLowerCase()) opt.selected = true;
      input.append(opt);
    }
  } else {
    input = cp.el("input", { id, name: "value", value: key.value, autocomplete: "off" });
  }
  const form = cp.el("form", { "data-key": key.name }, input,
    cp.el("button", { class: "primary", type: "submit", id: "save-" + key.name }, "Save"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = document.getElementById("result-" + key.name);
    out.textContent = "";  // the answer to this change, not the last one
    const r = await cp.post("/api/config", { key: key.name, value: input.value });
    const status = r.status === 200 ? r.data.status : "error";
    out.textContent = r.status === 200 ? status : (r.data.error || "HTTP " + r.status);
    out.className = "result " + status;
    if (status === "Accepted" || status === "RebootRequired") {
      document.getElementById("value-" + key.name).textContent = input.value;
    }
  });
  return form;
}

function keyBlock(key) {
  const facts = [key.access === "R" ? "read-only" : "read/write", key.range];
  if (key.reboot_required) facts.push("reboot required");
  const block = cp.el("div", { class: "key", "data-name": key.name.toLowerCase(), id: "row-" + key.name },
    cp.el("div", { class: "name" }, key.name, key.aliases.length ? " (" + key.aliases.join(", ") + ")" : ""),
    cp.el("div", { class: "muted" }, facts.join(" · ")),
    cp.el("div", {}, "Value: ", cp.el("code", { id: "value-" + key.name }, key.value),
      " · default: ", cp.el("code", {}, key.default === "" ? "(empty)" : key.default)),
    cp.el("div", {}, key.description));
  for (const note of [key.hardware_note, key.note]) if (note) block.append(cp.el("div", { class: "muted" }, "Note: " + note));
  const form = editor(key);
  if (form) block.append(form);
  block.append(cp.el("div", { class: "result", id: "result-" + key.name, role: "status" }));
  return block;
}

(async () => {
  await cp.me();
  const data = await cp.get("/api/config");
  const root = document.getElementById("groups");
  for (const g of data.groups) {
    const details = cp.el("details", { class: "group", "data-category": g.category },
      cp.el("summary", {}, g.category + " (" + g.keys.length + ")"));
    for (const key of g.keys) details.append(keyBlock(key));
    root.append(details);
  }
  document.getElementById("password-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = document.getElementById("pw-old").value + "," + document.getElementById("pw-new").value;
    const r = await cp.post("/api/config", { key: "PW-SetChargerPassword", value });
    const out = document.getElementById("result-password");
    const status = r.status === 200 ? r.data.status : "error";
    out.textContent = status === "Accepted" ? "Changed" : r.status === 200 ? status : (r.data.error || "HTTP " + r.status);
    out.className = "result " + status;
    e.target.reset();
  });
  document.getElementById("filter").addEventListener("input", (e) => {
    const q = e.target.value.trim().toLowerCase();
    for (const block of document.querySelectorAll(".key[data-name]")) block.hidden = q !== "" && !block.dataset.name.includes(q);
    for (const d of document.querySelectorAll("details.group")) d.open = q !== "";
  });
})();
