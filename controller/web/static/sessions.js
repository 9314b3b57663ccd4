// The sessions page: the journal's history, newest first; the CSV link downloads the same rows.
"use strict";
(async () => {
  await cp.me();
  const data = await cp.get("/api/sessions");
  const body = document.querySelector("#sessions tbody");
  for (const s of data.sessions) {
    body.append(cp.el("tr", {},
      cp.el("td", {}, s.transaction_id ?? "–"), cp.el("td", {}, s.connector),
      cp.el("td", {}, s.start || "–"), cp.el("td", {}, s.stop || (s.state === "active" ? "charging" : "–")),
      cp.el("td", { class: "num" }, s.energy_wh === null ? "–" : cp.num(s.energy_wh / 1000, 3)),
      cp.el("td", {}, s.reason || "–"), cp.el("td", {}, s.id_tag || "–")));
  }
  document.getElementById("sessions-empty").hidden = data.sessions.length > 0;
})();
