// Shared by every page: JSON requests with the CSRF token, the header's log-out button, small formatters.
"use strict";
const cp = {
  csrf: null,
  async me() {
    const r = await fetch("/api/me", { credentials: "same-origin" });
    const me = await r.json();
    cp.csrf = me.csrf;
    const out = document.getElementById("logout");
    if (out) {
      out.hidden = !me.logged_in;
      out.onclick = async () => { await cp.post("/api/logout", {}); location.href = "/login"; };
    }
    const login = document.getElementById("login-link");
    if (login) login.hidden = me.logged_in;
    return me;
  },
  async get(path) {
    const r = await fetch(path, { credentials: "same-origin" });
    if (r.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); throw new Error("login"); }
    if (!r.ok) throw new Error(path + ": HTTP " + r.status);
    return r.json();
  },
  async post(path, body) {
    const r = await fetch(path, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": cp.csrf || "" },
      body: JSON.stringify(body),
    });
    let data = {};
    try { data = await r.json(); } catch (e) { data = {}; }
    return { status: r.status, data };
  },
  el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else if (v !== null && v !== undefined) e.setAttribute(k, v);
    }
    for (const c of children) e.append(c instanceof Node ? c : String(c));
    return e;
  },
  num(x, digits) { return x === null || x === undefined ? "–" : Number(x).toFixed(digits); },
};
