"""The web interface as people use it, in a real headless browser (Debian's chromium, driven by selenium)
against a station on the simulated board and the test back office: the status page follows a charging car,
the installer logs in, changes a key that the back office then reads back, cannot change a read-only key,
and sees a fault appear. `make test` installs chromium and chromium-driver; when they are there this test
runs (it skips only on a machine without them, and says so)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from ocpp.v16 import call

from tests.conftest import start_rig, stop_rig, until
from tests.web.browser import Browser, start_browser, tools_present

pytestmark = pytest.mark.skipif(not tools_present(), reason="chromium/chromium-driver missing: run `make tools`")

PASSWORD = "Installer-Pass1"


def _kwh(text: str) -> float:
    return float(text.split()[0])


async def test_status_login_configuration_and_a_fault_in_a_real_browser(tmp_path: Path) -> None:
    rig = await start_rig(tmp_path)
    browser = Browser(await asyncio.to_thread(start_browser))
    try:
        await until(lambda: rig.station.web.port is not None, 10, "the web interface to listen")
        base = rig.station.web.url.rstrip("/")

        # the status page (public on the simulated board) follows a charging car
        await rig.cmd("plug", connector=1, ev={"max_current": 16, "phases": 3})
        await rig.cmd("tag", uid="04A2B3C4")
        await rig.wait_status("Charging")
        await browser.get(base + "/")
        await browser.wait_text("s1-ocpp", lambda t: t == "Charging", "the socket to show Charging")
        await browser.wait_text("link", lambda t: t == "connected", "the back office link")
        drawn = await browser.wait_text("s1-drawn", lambda t: t.startswith("16.0 / 16.0 / 16.0"), "16 A drawn")
        assert drawn == "16.0 / 16.0 / 16.0 A"
        assert await browser.text("s1-tag") == "04****C4"
        boot = await rig.bo.wait_for("BootNotification", rig.identity)
        assert await browser.text("firmware") == boot.payload["firmwareVersion"]
        first = _kwh(await browser.wait_text("s1-session", lambda t: t.endswith("kWh"), "the session energy"))
        await browser.wait_text("s1-session", lambda t: _kwh(t) > first, "the session energy to grow")
        await browser.wait("the plot's history", lambda d: d.execute_script("return samples.length") >= 2)

        # the installer's password, set from the back office (stored as a hash), opens the configuration
        res = await rig.bo.call(rig.identity, call.ChangeConfiguration(key="PW-SetChargerPassword", value=f",{PASSWORD}"))
        assert res.status == "Accepted"
        assert PASSWORD not in (tmp_path / "state" / "config.json").read_text()
        await browser.get(base + "/config")
        await browser.wait("the login page", lambda d: "/login" in d.current_url)
        await browser.do(lambda: browser.driver.find_element("id", "password").send_keys(PASSWORD))
        await browser.do(lambda: browser.driver.find_element("id", "login-button").click())
        await browser.wait("the configuration page", lambda d: d.current_url.endswith("/config")
                           and d.find_elements("id", "key-LightIntensity"))

        async def change(key: str, value: str) -> str:
            def fill() -> None:
                d = browser.driver
                search = d.find_element("id", "filter")
                search.clear()
                search.send_keys(key)
                box = d.find_element("id", f"key-{key}")
                box.clear()
                box.send_keys(value)
                d.find_element("id", f"save-{key}").click()

            await browser.do(fill)
            return await browser.wait_text(f"result-{key}", bool, f"the answer to {key}={value}")

        assert await change("LightIntensity", "42") == "Accepted"
        got = await rig.bo.call(rig.identity, call.GetConfiguration(key=["LightIntensity"]))
        assert got.configuration_key[0]["value"] == "42"
        assert await change("LightIntensity", "250") == "Rejected"
        assert any("ChangeConfiguration LightIntensity='42' -> Accepted" in line for line in rig.trace)

        # a read-only key: the page offers no editor, and a write the page's own script sends is Rejected
        assert not await browser.do(lambda: browser.driver.find_elements("id", "key-NumberOfConnectors"))
        answer = await browser.do(lambda: browser.driver.execute_async_script(
            "const done = arguments[0];"
            "cp.post('/api/config', {key: 'NumberOfConnectors', value: '2'}).then((r) => done(r.data.status));"))
        assert answer == "Rejected"
        got = await rig.bo.call(rig.identity, call.GetConfiguration(key=["NumberOfConnectors"]))
        assert got.configuration_key[0]["value"] == "1"

        # a fault appears on the status page with its meaning
        await browser.get(base + "/")
        await browser.wait_text("s1-ocpp", lambda t: t == "Charging", "the status page again")
        await rig.cmd("rcd", connector=1, trip=True)
        await browser.wait_text("s1-ocpp", lambda t: t == "Faulted", "the socket to show Faulted")
        fault = await browser.wait_text("s1-faults", lambda t: "Residual" in t, "the residual current fault")
        assert "residual_current" in fault and "charging stopped" in fault

        # the session is in the history, its id tag masked
        await browser.get(base + "/sessions")
        row = await browser.wait("the session's row", lambda d: [r.text for r in d.find_elements("css selector", "#sessions tbody tr")])
        assert len(row) == 1 and "04****C4" in row[0] and "04A2B3C4" not in row[0]
    finally:
        await browser.close()
        await stop_rig(rig)
