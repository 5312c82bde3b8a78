// First run: create the first administrator with the one-time token from the server console.
"use strict";
document.getElementById("setup").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const error = document.getElementById("error");
  error.textContent = "";
  if (form.password.value !== form.again.value) { error.textContent = "The passwords differ."; return; }
  const token = new URLSearchParams(location.search).get("token") || "";
  const res = await fetch("/api/setup", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token, username: form.username.value, password: form.password.value }),
  });
  if (res.ok) { location.href = "/login"; return; }
  const body = await res.json().catch(() => ({}));
  error.textContent = Array.isArray(body.detail) ? body.detail.map((d) => d.msg).join("; ") : body.detail || "Setup failed";
});
