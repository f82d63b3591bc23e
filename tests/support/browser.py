"""Headless Chromium for the console's tests, from the system's packages (`apt-get install chromium chromium-driver`).

No browser is downloaded: Selenium is pointed at /usr/bin/chromium and /usr/bin/chromedriver. Without them the
tests skip with the reason, except under CI (`CI` set), where they must run and so fail instead.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM_ARGUMENTS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


def chromium_paths() -> tuple[str, str] | None:
    """(chromium, chromedriver) when both are installed."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


def require_chromium() -> tuple[str, str]:
    paths = chromium_paths()
    if paths is not None:
        return paths
    message = "no Chromium: install chromium and chromium-driver (apt-get install -y chromium chromium-driver)"
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the console tests, but there is {message}")
    pytest.skip(message)


@contextmanager
def chromium() -> Iterator[object]:
    """A headless Chromium WebDriver with a new, empty profile; quit and removed afterwards."""
    browser_path, driver_path = require_chromium()
    from selenium import webdriver  # noqa: PLC0415 - only the browser tests need selenium
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    profile = Path(tempfile.mkdtemp(prefix="stratoflow-console-profile-"))
    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for argument in CHROMIUM_ARGUMENTS:
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
