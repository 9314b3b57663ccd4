"""A real headless browser for the web interface: Debian's `chromium` driven through Debian's
`chromium-driver` by selenium. The driver's path is given, so selenium-manager never looks for (or
downloads) one. `make tools` installs both packages."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM = Path("/usr/bin/chromium")
T = TypeVar("T")


def tools_present() -> bool:
    return CHROMEDRIVER.exists() and CHROMIUM.exists()


def start_browser(width: int = 1100, height: int = 900) -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--disable-extensions", "--no-first-run", f"--window-size={width},{height}"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


class Browser:
    """The blocking webdriver, called from a thread so the station's event loop keeps serving the pages."""

    def __init__(self, driver: WebDriver) -> None:
        self.driver = driver

    async def do(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(fn, *args)

    async def get(self, url: str) -> None:
        await self.do(self.driver.get, url)

    async def text(self, element_id: str) -> str:
        return await self.do(lambda: self.driver.find_element("id", element_id).text)

    async def wait(self, what: str, pred: Callable[[WebDriver], Any], timeout: float = 15.0) -> Any:
        """Until `pred(driver)` is truthy (polled by selenium; a failure says what was awaited)."""
        return await self.do(lambda: WebDriverWait(self.driver, timeout, 0.1).until(pred, f"waiting for {what}"))

    async def wait_text(self, element_id: str, pred: Callable[[str], bool], what: str, timeout: float = 15.0) -> str:
        def check(d: WebDriver) -> str | None:
            els = d.find_elements("id", element_id)
            text = els[0].text if els else None
            return text if text is not None and pred(text) else None

        return str(await self.wait(what, check, timeout))

    async def close(self) -> None:
        await self.do(self.driver.quit)
