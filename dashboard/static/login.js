// Sign-in: POST /api/login, then go where the user was heading.
"use strict";

// Only a path on this server: "/\\evil.example/x" or "//evil.example" are other sites to a browser.
function sameOriginPath(next) {
  if (!next || !next.startsWith("/") || /[\\\u0000-\u001f]/.test(next)) return "/";
  const url = new URL(next, location.origin);
  return url.origin === location.origin ? url.pathname + url.search + url.hash : "/";
}
document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = ev.target;
  const error = document.getElementById("error");
  error.textContent = "";
  const res = await fetch("/api/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: form.username.value, password: form.password.value }),
  });
  if (res.ok) {
    location.href = sameOriginPath(new URLSearchParams(location.search).get("next"));
  } else {
    const body = await res.json().catch(() => ({}));
    error.textContent = body.detail || "Sign-in failed";
  }
});
