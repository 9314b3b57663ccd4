"""`make demo` prints the status page's address, and that page shows the demo's session while it runs."""

from __future__ import annotations

import asyncio
import re

import aiohttp

from controller.demo import run_demo
from tests.conftest import until


async def test_the_demo_prints_its_status_page_which_shows_the_session_live() -> None:
    lines: list[str] = []
    demo = asyncio.ensure_future(run_demo(charge_seconds=3.0, out=lines.append))
    try:
        await until(lambda: any("status page:" in line for line in lines) or demo.done(), 20, "the status page URL")
        url = re.search(r"status page: (http://\S+)", "\n".join(lines))
        assert url is not None, lines
        seen: list[dict] = []
        async with aiohttp.ClientSession() as http:
            while not demo.done():
                async with http.get(url.group(1) + "api/status") as r:
                    assert r.status == 200  # public on the simulated board: no login
                    seen.append((await r.json())["sockets"][0])
                if seen[-1]["ocpp_status"] == "Charging" and seen[-1]["power_w"] > 0:
                    break
                await asyncio.sleep(0.2)
        assert seen and seen[-1]["ocpp_status"] == "Charging" and seen[-1]["id_tag"] == "04****C4", seen[-1:]
        assert await demo == 0
    finally:
        if not demo.done():
            demo.cancel()
