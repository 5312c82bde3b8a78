// The integrator's view: HL7 observation codes seen (admin). Text only (textContent): codes are device input.
"use strict";

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

async function loadCodes() {
  const since = document.getElementById("since").value;
  const q = new URLSearchParams();
  if (since) q.set("since", String(Date.now() / 1000 - Number(since)));
  const res = await fetch("/api/hl7/codes" + (q.toString() ? "?" + q : ""), { credentials: "same-origin" });
  const count = document.getElementById("count");
  if (!res.ok) {
    count.textContent = res.status === 401 ? "Please sign in again." : `Could not load the codes (${res.status}).`;
    return;
  }
  let rows = await res.json();
  if (document.getElementById("flagged-only").checked) rows = rows.filter((r) => r.flagged);
  const body = document.querySelector("#codes tbody");
  body.replaceChildren(
    ...rows.map((r) => {
      const tr = document.createElement("tr");
      if (r.flagged) tr.className = "flagged";
      tr.append(
        cell(r.flagged ? "?" : "", r.flagged ? "flag" : ""),
        cell(r.sender), cell(r.code), cell(r.label), cell(r.system), cell(r.unit),
        cell(String(r.count)), cell(r.example_value), cell(r.outcome),
        cell(new Date(r.last_seen * 1000).toLocaleString()),
      );
      return tr;
    }),
  );
  const flagged = rows.filter((r) => r.flagged).length;
  count.textContent = `${rows.length} code(s)` + (flagged ? `, ${flagged} unmapped that look like a vital` : "");
}

document.getElementById("since").addEventListener("change", loadCodes);
document.getElementById("flagged-only").addEventListener("change", loadCodes);
loadCodes();
setInterval(loadCodes, 10000);
