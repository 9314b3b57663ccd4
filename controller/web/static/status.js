// The status page: the station and one card per socket, kept live by the server-sent events of /api/events,
// and the 15-minute plot (history from /api/history, then one sample per event that brings one).
"use strict";
let samples = [];
let spanS = 900;

function phases(values) { return values.map((v) => cp.num(v, 1)).join(" / ") + " A"; }

function socketCard(s) {
  const id = "s" + s.id;
  let card = document.getElementById(id);
  if (!card) {
    card = cp.el("div", { class: "card", id });
    card.append(cp.el("h2", {}, "Socket " + s.id + " ", cp.el("span", { class: "badge", id: id + "-ocpp" })));
    const facts = cp.el("dl", { class: "facts" });
    for (const [key, label] of [["cp", "IEC 61851 state"], ["offered", "Offered L1/L2/L3"], ["drawn", "Drawn L1/L2/L3"],
      ["power", "Power"], ["session", "Session energy"], ["energy", "Meter"], ["tag", "Id tag"], ["contactor", "Contactor"]]) {
      facts.append(cp.el("dt", {}, label), cp.el("dd", { id: id + "-" + key }, "–"));
    }
    card.append(facts, cp.el("ul", { class: "faults", id: id + "-faults" }));
    document.getElementById("sockets").append(card);
  }
  const set = (key, text) => { document.getElementById(id + "-" + key).textContent = text; };
  const ocpp = document.getElementById(id + "-ocpp");
  ocpp.textContent = s.ocpp_status;
  ocpp.className = "badge " + (s.ocpp_status === "Faulted" ? "bad" : s.ocpp_status === "Charging" ? "ok" : "");
  set("cp", s.cp_state + " (" + s.cp_meaning + ")");
  set("offered", phases(s.offered));
  set("drawn", phases(s.drawn));
  set("power", cp.num(s.power_w / 1000, 2) + " kW");
  set("session", s.session_wh === null ? "no session" : cp.num(s.session_wh / 1000, 3) + " kWh");
  set("energy", cp.num(s.energy_wh / 1000, 3) + " kWh");
  set("tag", s.id_tag || "–");
  set("contactor", s.contactor);
  renderFaults(document.getElementById(id + "-faults"), s.faults);
}

function renderFaults(list, faults) {
  list.replaceChildren(...faults.map((f) => cp.el("li", { "data-code": f.code },
    cp.el("strong", {}, f.meaning), " (" + f.code + (f.effect ? "; " + f.effect : "") + ")")));
}

function render(st) {
  document.getElementById("identity").textContent = st.identity;
  const link = document.getElementById("link");
  link.textContent = st.online ? "connected" : "offline";
  link.className = "badge " + (st.online ? "ok" : "bad");
  document.getElementById("firmware").textContent = st.firmware_version;
  document.getElementById("temperature").textContent = st.temperature_c === null ? "–" : cp.num(st.temperature_c, 1) + " °C";
  document.getElementById("house").textContent = st.house ? phases(st.house) : "no grid meter reading";
  document.getElementById("updated").textContent = new Date(st.time * 1000).toLocaleTimeString();
  renderFaults(document.getElementById("station-faults"), st.station_faults);
  for (const s of st.sockets) socketCard(s);
}

function redraw() { drawPlot(document.getElementById("plot"), samples, spanS); }

async function start() {
  await cp.me();
  render(await cp.get("/api/status"));
  const h = await cp.get("/api/history");
  samples = h.samples;
  spanS = h.span_s;
  redraw();
  const events = new EventSource("/api/events");
  events.addEventListener("status", (e) => {
    const msg = JSON.parse(e.data);
    render(msg.status);
    if (msg.sample && (!samples.length || msg.sample.t > samples[samples.length - 1].t)) {
      samples.push(msg.sample);
      while (samples.length && samples[0].t < msg.sample.t - spanS) samples.shift();
      redraw();
    }
  });
  window.addEventListener("resize", redraw);
}
start();
