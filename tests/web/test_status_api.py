"""The status page's data, its live feed, the plot's history (on the injected clock), the session history with
its CSV, the fault meanings and the pages and assets themselves."""

from __future__ import annotations

import json

from controller.evse.faults import Fault
from controller.web.faults import describe
from controller.web.feed import MAX_FEEDS
from controller.web.history import History
from controller.web.pages import PAGES, render
from controller.web.server import STATIC
from controller.web.status import mask_tag
from tests.conftest import until
from tests.web.conftest import Web, charging, sample


async def test_status_shows_each_socket_and_the_station(web: Web) -> None:
    web.journal.start_transaction(1, "04A2B3C4", 1000, "2026-01-01T12:00:00Z")
    web.sockets.on_state(charging("overcurrent"))
    st = await (await web.client.get("/api/status")).json()
    s = st["sockets"][0]
    assert (s["cp_state"], s["cp_meaning"], s["ocpp_status"]) == ("C", "charging", "Charging")
    assert s["offered"] == [16.0, 0.0, 0.0]  # a one-phase socket is offered nothing on L2 and L3
    assert s["drawn"] == [15.9, 0.0, 0.0] and s["power_w"] == 3657.0
    assert s["session_wh"] == 500.0  # the meter's 1500 Wh minus the transaction's meterStart
    assert s["id_tag"] == "04****C4"
    assert s["faults"] == [describe("overcurrent")] and s["faults"][0]["meaning"].startswith("The vehicle draws")
    assert (st["online"], st["identity"], st["firmware_version"]) == (True, "WEB-CP1", "9.8.7")
    assert st["house"] == [4.0, 2.5, 1.0] and st["temperature_c"] is None


def test_id_tags_are_masked() -> None:
    assert mask_tag("04A2B3C4") == "04****C4"
    assert mask_tag("SHORT") == "*****"
    assert mask_tag(None) is None and mask_tag("") is None


def test_every_fault_of_the_loop_has_a_meaning() -> None:
    for fault in Fault:
        d = describe(fault.value)
        assert d["meaning"] != "Unknown fault" and d["effect"], fault
    assert describe("from_a_newer_loop")["meaning"] == "Unknown fault"


def test_the_history_samples_on_the_clock_and_keeps_a_bounded_span() -> None:
    h = History(span_s=10, sample_s=2)
    status = {"time": 0.0, "sockets": [{"id": 1, "offered": [16.0, 0, 0], "drawn": [15.0, 0, 0]}], "house": None}
    taken = [h.offer(float(t), {**status, "time": float(t)}) is not None for t in range(0, 20)]
    assert taken == [t % 2 == 0 for t in range(20)]
    assert [s["t"] for s in h.samples()] == [10.0, 12.0, 14.0, 16.0, 18.0]  # the last 10 s only


async def test_the_server_samples_on_the_injected_clock(web: Web) -> None:
    for _ in range(5):
        web.server.tick()
        web.clock.jump(1.0)
    data = await (await web.client.get("/api/history")).json()
    assert data["span_s"] == 900 and data["sample_s"] == 2.0
    assert len(data["samples"]) == 3
    assert data["samples"][0]["sockets"]["1"] == {"offered": [16.0, 0.0, 0.0], "drawn": [15.9, 0.0, 0.0]}
    assert data["samples"][1]["t"] - data["samples"][0]["t"] == 2.0


async def test_the_live_feed_sends_each_tick(web: Web) -> None:
    web.server.tick()
    r = await web.client.get("/api/events")
    assert r.headers["Content-Type"].startswith("text/event-stream")

    async def event() -> dict:
        lines = []
        while True:
            line = (await r.content.readline()).decode().rstrip("\n")
            if line == "":
                break
            lines.append(line)
        assert lines[0] == "event: status"
        return json.loads(lines[1].removeprefix("data: "))

    first = await event()
    assert first["status"]["sockets"][0]["drawn"] == [15.9, 0.0, 0.0]
    web.sockets.on_sample(sample(7.0, 1610.0, 1600.0))
    web.clock.jump(1.0)
    web.server.tick()
    second = await event()
    assert second["status"]["sockets"][0]["drawn"] == [7.0, 0.0, 0.0]
    r.close()


async def test_sessions_and_their_csv(web: Web) -> None:
    tx = web.journal.start_transaction(1, "04A2B3C4", 1000, "2026-01-01T12:00:00Z")
    web.journal.stop_transaction(tx, 4500, "2026-01-01T13:00:00Z", "EVDisconnected")
    web.journal.start_transaction(1, "CARD-0001", 4500, "2026-01-01T14:00:00Z")
    await web.login()
    rows = (await (await web.client.get("/api/sessions")).json())["sessions"]
    assert [r["start"] for r in rows] == ["2026-01-01T14:00:00Z", "2026-01-01T12:00:00Z"]  # newest first
    done = rows[1]
    assert (done["stop"], done["energy_wh"], done["reason"], done["id_tag"]) == (
        "2026-01-01T13:00:00Z", 3500, "EVDisconnected", "04****C4")
    r = await web.client.get("/api/sessions.csv")
    assert r.headers["Content-Type"].startswith("text/csv") and "attachment" in r.headers["Content-Disposition"]
    lines = (await r.text()).splitlines()
    assert lines[0] == "transaction_id,connector,start,stop,energy_wh,reason,id_tag,state"
    assert lines[2] == ",1,2026-01-01T12:00:00Z,2026-01-01T13:00:00Z,3500,EVDisconnected,04****C4,stopped"
    assert "04A2B3C4" not in await r.text() and "CARD-0001" not in await r.text()


async def test_pages_and_assets_come_from_the_package_with_a_strict_policy(web: Web) -> None:
    page = await web.client.get("/")
    html = await page.text()
    assert page.status == 200 and "/static/status.js" in html and "http" not in html.replace("http-equiv", "")
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"
    for asset in ("app.css", "common.js", "plot.js", "status.js", "config.js", "sessions.js", "login.js"):
        r = await web.client.get(f"/static/{asset}")
        assert r.status == 200, asset
        assert "://" not in (await r.text()), asset  # nothing fetched from elsewhere
    assert (await web.client.get("/static/../server.py")).status in (403, 404)
    for path, spec in PAGES.items():
        for script in spec.scripts:
            assert (STATIC / script).is_file(), (path, script)
        assert f'<script src="/static/{spec.scripts[-1]}">' in render(path)


async def test_live_feeds_are_capped(web: Web) -> None:
    web.server.tick()
    feeds = [await web.client.get("/api/events") for _ in range(MAX_FEEDS)]
    for r in feeds:
        assert r.status == 200
        assert (await r.content.readline()).decode() == "event: status\n"
    assert web.server.feed.open == MAX_FEEDS
    refused = await web.client.get("/api/events")
    assert refused.status == 503
    feeds[0].close()
    web.server.tick()  # a feed whose client left ends at its next write at the latest
    await until(lambda: web.server.feed.open == MAX_FEEDS - 1, 5, "the closed feed to end")
    again = await web.client.get("/api/events")
    assert again.status == 200
    for r in [*feeds[1:], again]:
        r.close()
