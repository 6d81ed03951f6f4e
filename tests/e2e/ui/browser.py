"""A headless Chromium (Debian's `chromium`, driven through Debian's `chromedriver` by
Selenium; scripts/bootstrap installs both) that signs in to the dashboard through the
provider's own pages, and keeps every page it saw for the token checks.

Screenshots go to test-results/screenshots/ (git-ignored), one PNG per page and user.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from tests.stack.paths import ROOT

SCREENSHOTS = ROOT / "test-results" / "screenshots"
WAIT = 30.0


def chromium() -> tuple[str, str]:
    """(browser, driver) from the system's packages; never a downloaded browser."""
    browser = shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return browser, driver


@dataclass
class Browser:
    driver: WebDriver
    user: str
    seen: list[tuple[str, str]] = field(default_factory=list)  # (url, page source)

    def open(self, url: str) -> None:
        self.driver.get(url)
        self.keep()

    def keep(self) -> None:
        self.seen.append((self.driver.current_url, self.driver.page_source))

    def text(self, css: str) -> str:
        return str(self.driver.find_element(By.CSS_SELECTOR, css).text)

    def has(self, css: str) -> bool:
        return bool(self.driver.find_elements(By.CSS_SELECTOR, css))

    def click(self, css: str) -> None:
        self.driver.find_element(By.CSS_SELECTOR, css).click()
        self.keep()

    def submit(self, css: str) -> None:
        """Clicks a submit button and waits until the browser has left the page."""
        page = self.driver.find_element(By.TAG_NAME, "html")
        self.driver.find_element(By.CSS_SELECTOR, css).click()
        WebDriverWait(self.driver, WAIT).until(expected_conditions.staleness_of(page))
        self.keep()

    def wait_for(self, css: str) -> None:
        WebDriverWait(self.driver, WAIT).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, css), f"no {css} on {self.url}"
        )

    def wait_text(self, css: str, text: str) -> None:
        WebDriverWait(self.driver, WAIT).until(
            lambda d: any(text in e.text for e in d.find_elements(By.CSS_SELECTOR, css)),
            f"{text!r} never appeared in {css}",
        )

    @property
    def url(self) -> str:
        return str(self.driver.current_url)

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.user}-{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def sign_in(self, ui_url: str, password: str, start: str | None = None) -> None:
        """Opens the dashboard and answers the provider's login (and consent) pages as a
        person would, until the dashboard shows its header."""
        self.open(start or ui_url)
        WebDriverWait(self.driver, WAIT).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "form#login, #viewer, form#consent")
        )
        if self.has("form#login"):
            self.screenshot("provider-login")
            self.driver.find_element(By.NAME, "username").clear()
            self.driver.find_element(By.NAME, "username").send_keys(self.user)
            self.driver.find_element(By.NAME, "password").send_keys(password)
            self.click("form#login button[type=submit]")
            WebDriverWait(self.driver, WAIT).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, "#viewer, form#consent")
            )
        if self.has("form#consent"):
            self.click("form#consent button[type=submit]")
        self.wait_for("#viewer")
        self.keep()

    def answer_provider(self, password: str) -> list[str]:
        """Answers the provider's pages (a step-up login) until the dashboard is back;
        returns which pages it answered (`login`, `consent`)."""
        answered: list[str] = []
        WebDriverWait(self.driver, WAIT).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "form#login, #viewer, form#consent")
        )
        if self.has("form#login"):
            answered.append("login")
            self.screenshot("provider-step-up")
            self.driver.find_element(By.NAME, "username").clear()
            self.driver.find_element(By.NAME, "username").send_keys(self.user)
            self.driver.find_element(By.NAME, "password").send_keys(password)
            self.click("form#login button[type=submit]")
            WebDriverWait(self.driver, WAIT).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, "#viewer, form#consent")
            )
        if self.has("form#consent"):
            answered.append("consent")
            self.click("form#consent button[type=submit]")
        self.wait_for("#viewer")
        self.keep()
        return answered

    def cookie(self, name: str) -> dict[str, object] | None:
        found = self.driver.get_cookie(name)
        return dict(found) if found else None


@contextmanager
def browser(user: str) -> Iterator[Browser]:
    binary, driver_path = chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    profile = tempfile.mkdtemp(prefix="scipian-ui-")
    for arg in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespaces for the sandbox
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
        "--proxy-server=direct://",  # loopback only, whatever the environment says
    ):
        options.add_argument(arg)
    # Selenium's manager would look for (and fetch) a driver: give it Debian's.
    os.environ.setdefault("SE_AVOID_STATS", "true")
    service = Service(executable_path=driver_path)
    driver = webdriver.Chrome(options=options, service=service)
    try:
        yield Browser(driver, user)
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
