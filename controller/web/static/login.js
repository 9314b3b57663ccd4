// The login page: posts the service password, then goes where the visitor wanted to go (a local path only).
"use strict";
document.getElementById("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const error = document.getElementById("login-error");
  error.textContent = "";
  const r = await cp.post("/api/login", { password: document.getElementById("password").value });
  if (r.status === 200) {
    const next = new URLSearchParams(location.search).get("next") || "/config";
    location.href = /^\/[a-z]*$/.test(next) ? next : "/config";
  } else {
    error.textContent = r.data.error || "HTTP " + r.status;
  }
});
