"""A real headless Chromium for the status page tests, driven by chromedriver through selenium.

Debian's packages (`bash .ci/install-chromium.sh`, run by `make test`); a missing browser fails
the tests with that hint instead of skipping them, like the broker and PostgreSQL fixtures.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

INSTALL_HINT = "run `bash .ci/install-chromium.sh` (apt-get install chromium chromium-driver)"


@pytest.fixture(scope="session")
def browser() -> Iterator[WebDriver]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.fail(f"Chromium or chromedriver is not installed: {INSTALL_HINT}", pytrace=False)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,900")
    try:
        # Explicit paths: selenium's own driver manager would try to download a browser.
        driver = webdriver.Chrome(service=webdriver.ChromeService(driver_path), options=options)
    except WebDriverException as exc:
        pytest.fail(f"Chromium did not start: {exc.msg}", pytrace=False)
    try:
        yield driver
    finally:
        driver.quit()


def wait_in_page(
    driver: WebDriver, condition: Callable[[WebDriver], object], what: str, timeout_s: float
) -> None:
    """Until ``condition`` returns something truthy; the failure names what did not appear."""
    WebDriverWait(driver, timeout_s, poll_frequency=0.2).until(
        condition, message=f"the page did not show {what} within {timeout_s:.0f} s"
    )
