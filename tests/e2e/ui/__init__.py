"""The dashboard (/ui/) in a real browser: Debian Chromium driven headless by Selenium."""
