"""`make screenshots`: the status and configuration pages of a simulated station, photographed by headless
chromium into docs/screenshots/ (status.png, configuration.png). The station charges a car under active load
balancing while the simulated house load changes, so the plot shows the offer following the house."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from ocpp.v16 import call

from tests.conftest import start_rig, stop_rig, until
from tests.web.browser import Browser, start_browser

PASSWORD = "Installer-Pass1"
ALB = {"Active-LoadBalancing": "On", "ALB-ProtocolSelection": "DSMR P1", "SmartMeter-MaxCurrent": "25",
       "Safe-MaxCurrent": "8"}


async def take(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rig = await start_rig(Path(tempfile.mkdtemp(prefix="screenshots-")), config=ALB)
    browser = Browser(await asyncio.to_thread(start_browser, 1100, 1250))
    try:
        await until(lambda: rig.station.web.port is not None, 10, "the web interface")
        base = rig.station.web.url.rstrip("/")
        await rig.cmd("grid", currents=[4, 2, 1])
        await rig.cmd("plug", connector=1, ev={"max_current": 16, "phases": 3})
        await rig.cmd("tag", uid="04A2B3C4")
        await rig.wait_status("Charging")
        await browser.get(base + "/")
        for house in ([4, 2, 1], [14, 6, 3], [17, 8, 4], [6, 3, 2]):
            await rig.cmd("grid", currents=house)
            await asyncio.sleep(7)  # real time: the pictures show a real run
        await browser.wait_text("s1-ocpp", lambda t: t == "Charging", "Charging")
        await browser.do(browser.driver.save_screenshot, str(out / "status.png"))
        res = await rig.bo.call(rig.identity, call.ChangeConfiguration(key="PW-SetChargerPassword", value=f",{PASSWORD}"))
        assert res.status == "Accepted"
        await browser.get(base + "/login?next=/config")
        await browser.do(lambda: browser.driver.find_element("id", "password").send_keys(PASSWORD))
        await browser.do(lambda: browser.driver.find_element("id", "login-button").click())
        await browser.wait("the configuration page", lambda d: d.find_elements("id", "key-LightIntensity"))
        await browser.do(lambda: browser.driver.execute_script(
            "(document.querySelector('details.group[data-category=\"Power settings\"]')"
            " || document.querySelector('details.group')).open = true;"))
        await browser.do(browser.driver.save_screenshot, str(out / "configuration.png"))
        print(f"wrote {out / 'status.png'} and {out / 'configuration.png'}")
    finally:
        await browser.close()
        await stop_rig(rig)


if __name__ == "__main__":
    asyncio.run(take(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/screenshots")))
