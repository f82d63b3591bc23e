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
from typing import Any

import pytest

WAIT = 15.0
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


# ---------------------------------------------------------------- page helpers


def wait(driver: Any, condition: Any, what: str) -> Any:
    """Wait for a condition; the page re-renders while it refreshes, so a stale element just means "look again"."""
    from selenium.common.exceptions import StaleElementReferenceException  # noqa: PLC0415
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    return WebDriverWait(driver, WAIT, poll_frequency=0.1, ignored_exceptions=(StaleElementReferenceException,)
                         ).until(condition, f"timed out waiting for {what}")


def texts(driver: Any, selector: str) -> list[str]:
    """The text of every element that matches, read in one go (no element can go stale in between)."""
    return list(driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((e) => e.innerText)", selector))


def attributes(driver: Any, selector: str, name: str) -> list[str]:
    return list(driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map((e) => e.getAttribute(arguments[1]))",
        selector, name))


def by_id(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    return driver.find_element(By.ID, element_id)


def click(driver: Any, element_id: str) -> None:
    """Click an element by id, finding it again if a refresh replaced it in between."""
    wait(driver, lambda d: by_id(d, element_id).click() or True, f"#{element_id} to be clickable")


def css(driver: Any, selector: str) -> list[Any]:
    from selenium.webdriver.common.by import By  # noqa: PLC0415

    return driver.find_elements(By.CSS_SELECTOR, selector)


def sign_in(driver: Any, url: str, token: str = "tok-acme") -> None:
    driver.get(f"{url}/console")
    driver.execute_script("window.sessionStorage.clear()")
    driver.get(f"{url}/console")
    wait(driver, lambda d: by_id(d, "token-input").is_displayed(), "the token prompt")
    by_id(driver, "token-input").send_keys(token)
    click(driver, "token-submit")
    wait(driver, lambda d: css(d, "#workflow-table"), "the workflow list")
