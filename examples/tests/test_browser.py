"""The example sites in headless Chromium: the SPEC's seed scenarios, as a user sees them.

Each test runs on both sites (Django's LoginView, and Express's login page over its JSON API),
from its own network and on its own account, with the example policy
(``[account] challenge_after = 3, reset_after = 7``; ``[account_ip] lock_after = 5``;
``[ip] lock_after = 8``).
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import SCREENSHOTS
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

PASSWORD = "correct horse battery staple"
WRONG = "wrong password"
WAIT_S = 60  # generous: every wait is for a condition, never a fixed time


def wait(driver: WebDriver) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, WAIT_S, ignored_exceptions=(StaleElementReferenceException,))


def click_and_load(driver: WebDriver, button: Any) -> None:
    """Clicks ``button`` and waits until the page it submits to has loaded."""
    driver.execute_script("window.beforeSubmit = true")
    button.click()

    def loaded(d: WebDriver) -> bool:
        try:
            return bool(
                d.execute_script(
                    "return !window.beforeSubmit && document.readyState === 'complete'"
                )
            )
        except WebDriverException:  # between the two pages
            return False

    wait(driver).until(loaded)


def come_from(driver: WebDriver, network: str) -> None:
    """Every request this browser sends now comes from ``network``, as a reverse proxy on
    127.0.0.1 would say in ``X-Forwarded-For``."""
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"X-Forwarded-For": network}})


def visible(driver: WebDriver, selector: str) -> bool:
    return any(e.is_displayed() for e in driver.find_elements(By.CSS_SELECTOR, selector))


def state(driver: WebDriver) -> str:
    """What the user sees: welcome, reset, blocked, challenge, wrong (password) or login."""
    for name, selector in (
        ("welcome", "#welcome"),
        ("reset", "#reset-required"),
        ("blocked", "#loginguard-blocked"),
        ("challenge", "#loginguard-challenge"),
        ("wrong", "#login-error"),
    ):
        if visible(driver, selector):
            return name
    return "login"


def solve_captcha(driver: WebDriver) -> None:
    """Ticks the local CAPTCHA's "I am human" box and waits for its token."""
    box = wait(driver).until(EC.element_to_be_clickable((By.ID, "local-captcha-checkbox")))
    box.click()
    wait(driver).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".local-captcha.solved")))


def shot(driver: WebDriver, site: Site, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SCREENSHOTS / f"{site.name}-{name}.png"))


def countdown_is_live(driver: WebDriver) -> None:
    """The Retry-After countdown shows m:ss and moves."""
    element = driver.find_element(By.ID, "countdown")
    first = element.text
    assert re.fullmatch(r"\d+:\d\d", first), first
    wait(driver).until(lambda d: d.find_element(By.ID, "countdown").text != first)


@dataclass
class Site:
    name: str
    url: str
    captcha_url: str
    login_path: str
    device_cookie: str
    session_cookie: str

    def open_login(self, driver: WebDriver) -> None:
        driver.get(self.url + self.login_path)

    def fill_login(self, driver: WebDriver, username: str, password: str, captcha: bool) -> Any:
        form = driver.find_element(By.CSS_SELECTOR, "form:has(input[name=password])")
        for name, value in (("username", username), ("password", password)):
            field = form.find_element(By.NAME, name)
            field.clear()
            field.send_keys(value)
        if captcha:
            solve_captcha(driver)
        return form

    def attempt(
        self, driver: WebDriver, username: str, password: str, captcha: bool = False
    ) -> str:
        raise NotImplementedError

    def reset_password(self, driver: WebDriver, account: str, new_password: str) -> None:
        raise NotImplementedError

    def logout(self, driver: WebDriver) -> None:
        driver.get(self.url + "/")
        button = driver.find_element(By.XPATH, "//button[normalize-space()='Log out']")
        button.click()
        wait(driver).until(lambda d: not d.find_elements(By.ID, "welcome"))

    def attack(self, account: str, network: str) -> tuple[int, str]:
        """One wrong password from an attacker's script on ``network``, with a solved CAPTCHA
        (attackers buy them): the HTTP status and where it sends the attacker."""
        raise NotImplementedError

    def captcha_token(self) -> str:
        answer = post(self.captcha_url + "/token", b"127.0.0.1", {})
        return str(json.loads(answer[2])["token"])


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=WAIT_S)
    try:
        connection.request("POST", parts.path, body, headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


class DjangoSite(Site):
    def attempt(
        self, driver: WebDriver, username: str, password: str, captcha: bool = False
    ) -> str:
        if not driver.find_elements(By.CSS_SELECTOR, "form input[name=password]"):
            self.open_login(driver)
        form = self.fill_login(driver, username, password, captcha)
        click_and_load(driver, form.find_element(By.CSS_SELECTOR, "button[type=submit]"))
        return state(driver)

    def reset_password(self, driver: WebDriver, account: str, new_password: str) -> None:
        driver.find_element(By.NAME, "email").send_keys(f"{account}@example.com")
        driver.find_element(By.CSS_SELECTOR, "#reset-form button").click()
        wait(driver).until(EC.presence_of_element_located((By.ID, "reset-sent")))
        driver.find_element(By.ID, "outbox-link").click()
        mail = wait(driver).until(
            EC.presence_of_element_located(
                (By.XPATH, f"//article[p[contains(., '{account}@example.com')]]")
            )
        )
        mail.find_element(By.CSS_SELECTOR, "pre a").click()
        # Django's confirm link redirects to a URL without the token before showing the form.
        field = wait(driver).until(EC.presence_of_element_located((By.NAME, "new_password1")))
        field.send_keys(new_password)
        driver.find_element(By.NAME, "new_password2").send_keys(new_password)

    def attack(self, account: str, network: str) -> tuple[int, str]:
        headers = {"X-Forwarded-For": network}
        parts = urllib.parse.urlsplit(self.url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=WAIT_S)
        try:
            connection.request("GET", self.login_path, headers=headers)
            page = connection.getresponse()
            html = page.read().decode()
            cookie = page.getheader("Set-Cookie", "").split(";")[0]
        finally:
            connection.close()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        assert token is not None and cookie.startswith("csrftoken="), html[:300]
        body = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": token.group(1),
                "username": account,
                "password": WRONG,
                "cf-turnstile-response": self.captcha_token(),
            }
        ).encode()
        status, answer_headers, _ = post(
            self.url + self.login_path,
            body,
            {**headers, "Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"},
        )
        return status, answer_headers.get("location", "")


class ExpressSite(Site):
    def answers(self, driver: WebDriver) -> int:
        return int(driver.execute_script("return Number(document.body.dataset.answers || 0)"))

    def attempt(
        self, driver: WebDriver, username: str, password: str, captcha: bool = False
    ) -> str:
        if not visible(driver, "#login-form"):
            self.open_login(driver)
        before = self.answers(driver)
        form = self.fill_login(driver, username, password, captcha)
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

        def answered(d: WebDriver) -> bool:
            if d.find_elements(By.ID, "welcome") or d.find_elements(By.ID, "reset-required"):
                return True
            try:
                return self.answers(d) > before
            except Exception:  # the page is being replaced
                return False

        wait(driver).until(answered)
        return state(driver)

    def reset_password(self, driver: WebDriver, account: str, new_password: str) -> None:
        driver.find_element(By.NAME, "username").send_keys(account)
        driver.find_element(By.CSS_SELECTOR, "#reset-form button").click()
        wait(driver).until(EC.presence_of_element_located((By.ID, "reset-sent")))
        driver.find_element(By.ID, "outbox-link").click()
        mail = wait(driver).until(
            EC.presence_of_element_located(
                (By.XPATH, f"//article[p[contains(., '{account}@example.com')]]")
            )
        )
        mail.find_element(By.CSS_SELECTOR, "pre a").click()
        field = wait(driver).until(EC.presence_of_element_located((By.NAME, "password")))
        field.send_keys(new_password)

    def attack(self, account: str, network: str) -> tuple[int, str]:
        body = json.dumps(
            {"username": account, "password": WRONG, "cf-turnstile-response": self.captcha_token()}
        ).encode()
        status, _, answer = post(
            self.url + "/api/login",
            body,
            {
                "X-Forwarded-For": network,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        return status, str(json.loads(answer).get("error", ""))


@pytest.fixture(params=["django", "express"])
def site(request: pytest.FixtureRequest, captcha_url: str) -> Site:
    if request.param == "django":
        return DjangoSite(
            "django",
            request.getfixturevalue("django_url"),
            captcha_url,
            "/accounts/login/",
            "loginguard_device",
            "sessionid",
        )
    return ExpressSite(
        "express",
        request.getfixturevalue("express_url"),
        captcha_url,
        "/login",
        "device",
        "session",
    )


@pytest.fixture
def browser(new_browser: Callable[[], WebDriver]) -> WebDriver:
    return new_browser()


def test_the_fourth_failure_asks_for_the_captcha(site: Site, browser: WebDriver) -> None:
    """Seed 1: failures 1-3 are let through to the password check, the 4th asks for the CAPTCHA;
    once it is solved, the password is checked again."""
    come_from(browser, "198.51.100.1")
    for _ in range(3):
        assert site.attempt(browser, "alice", WRONG) == "wrong"
    assert site.attempt(browser, "alice", WRONG) == "challenge"
    assert site.attempt(browser, "alice", PASSWORD) == "challenge"  # not checked without it
    shot(browser, site, "captcha")
    assert site.attempt(browser, "alice", PASSWORD, captcha=True) == "welcome"


def test_a_network_spraying_accounts_gets_429_with_a_countdown(
    site: Site, browser: WebDriver
) -> None:
    """Seed 3: one failure on each of many accounts from one network: past `[ip] lock_after`
    the network is refused for a while (a live countdown), and another network is not."""
    come_from(browser, "198.51.100.2")
    outcomes = [site.attempt(browser, f"user{i}", WRONG) for i in range(1, 10)]
    assert outcomes == ["wrong"] * 8 + ["blocked"]
    message = browser.find_element(By.CSS_SELECTOR, ".loginguard-message").text
    assert "from your network" in message and "another network" in message, message
    assert re.search(r"Try again in \d+ (minutes|seconds)", message), message
    countdown_is_live(browser)
    shot(browser, site, "network-429")
    # The right password from that network is refused too; from another network it logs in.
    assert site.attempt(browser, "bob", PASSWORD) == "blocked"
    if site.name == "django":  # the demo's "switch network" button
        browser.find_element(By.XPATH, "//button[contains(., 'another network')]").click()
        wait(browser).until(EC.presence_of_element_located((By.ID, "login-form")))
        assert "203.0.113." in browser.find_element(By.ID, "network").text
    else:
        come_from(browser, "198.51.100.12")
    assert site.attempt(browser, "bob", PASSWORD) == "welcome"


def test_an_account_attacked_from_one_network_is_locked(site: Site, browser: WebDriver) -> None:
    """Seed 4: the 6th failure on (carol, one network) locks it; the page says so, counts down,
    and the right password waits for the lock to end."""
    come_from(browser, "198.51.100.3")
    for _ in range(3):
        assert site.attempt(browser, "carol", WRONG) == "wrong"
    assert site.attempt(browser, "carol", WRONG) == "challenge"
    assert site.attempt(browser, "carol", WRONG, captcha=True) == "challenge"
    assert site.attempt(browser, "carol", WRONG, captcha=True) == "blocked"
    message = browser.find_element(By.CSS_SELECTOR, ".loginguard-message").text
    assert "on this account" in message and "another network" not in message, message
    countdown_is_live(browser)
    shot(browser, site, "account-lock")
    assert site.attempt(browser, "carol", PASSWORD) == "blocked"


def test_reset_required_then_a_completed_reset_unlocks(site: Site, browser: WebDriver) -> None:
    """Seed 5: consecutive failures from changing networks pass `reset_after`: the user is sent
    to the password reset; the mailed link sets a new password, which unlocks the account."""
    come_from(browser, "198.51.100.4")
    for _ in range(3):
        assert site.attempt(browser, "dave", WRONG) == "wrong"
    assert site.attempt(browser, "dave", WRONG) == "challenge"
    assert site.attempt(browser, "dave", WRONG, captcha=True) == "challenge"
    come_from(browser, "198.51.100.5")  # 5 failures so far: below the account_ip lock
    assert site.attempt(browser, "dave", WRONG, captcha=True) == "challenge"
    assert site.attempt(browser, "dave", WRONG, captcha=True) == "challenge"
    assert site.attempt(browser, "dave", WRONG, captcha=True) == "reset"  # the 8th
    shot(browser, site, "reset-required")
    # Even the right password (with the CAPTCHA) is sent to the reset.
    site.open_login(browser)
    assert site.attempt(browser, "dave", PASSWORD) == "reset"
    site.reset_password(browser, "dave", "a brand new passphrase")
    browser.find_element(By.CSS_SELECTOR, "#set-password-form button").click()
    wait(browser).until(EC.presence_of_element_located((By.ID, "reset-complete")))
    shot(browser, site, "reset-complete")
    # Unlocked: no CAPTCHA, no reset; the old password is gone.
    site.open_login(browser)
    assert site.attempt(browser, "dave", PASSWORD) == "wrong"
    assert site.attempt(browser, "dave", "a brand new passphrase") == "welcome"


def test_a_trusted_device_gets_in_while_an_attacker_hammers_the_account(
    site: Site, browser: WebDriver
) -> None:
    """Seed 6: erin logged in on this browser before (a signed device cookie). An attacker with
    solved CAPTCHAs fails on erin from her own network and another until the account needs a
    reset; erin on her device still gets in, while a browser without the cookie is sent to the
    reset."""
    home, elsewhere = "198.51.100.6", "198.51.100.7"
    come_from(browser, home)
    assert site.attempt(browser, "erin", PASSWORD) == "welcome"
    cookie = browser.get_cookie(site.device_cookie)
    assert cookie is not None and cookie["httpOnly"], cookie
    site.logout(browser)

    answers = [site.attack("erin", home) for _ in range(7)]
    answers += [site.attack("erin", elsewhere) for _ in range(3)]
    assert answers[6][0] == 429, answers  # (erin, her network) is locked by the 6th failure
    assert answers[-1][0] in (302, 403), answers  # the 8th made it reset_required

    site.open_login(browser)
    assert site.attempt(browser, "erin", PASSWORD) == "welcome"
    untrusted = browser.find_element(By.ID, "untrusted").text
    assert "reset_required" in untrusted, untrusted  # what a browser without the cookie gets
    shot(browser, site, "trusted-device")

    # The same browser without its device cookie is an untrusted one.
    site.logout(browser)
    browser.delete_cookie(site.device_cookie)
    site.open_login(browser)
    assert site.attempt(browser, "erin", PASSWORD) == "reset"


def test_the_admin_login_is_guarded_too(
    django_url: str, captcha_url: str, browser: WebDriver
) -> None:
    """Django's admin login (a LoginView subclass) gets the same CAPTCHA step."""
    come_from(browser, "198.51.100.20")
    browser.get(django_url + "/admin/login/")
    for expected in ["wrong", "wrong", "wrong", "challenge"]:
        if not browser.find_elements(By.CSS_SELECTOR, "form input[name=password]"):
            browser.get(django_url + "/admin/login/")
        form = browser.find_element(By.CSS_SELECTOR, "form:has(input[name=password])")
        form.find_element(By.NAME, "username").clear()
        form.find_element(By.NAME, "username").send_keys("admin")
        form.find_element(By.NAME, "password").send_keys(WRONG)
        click_and_load(browser, form.find_element(By.CSS_SELECTOR, "[type=submit]"))
        if expected == "wrong":
            assert browser.find_elements(By.CSS_SELECTOR, ".errornote"), browser.page_source[:500]
        else:
            assert browser.find_elements(By.ID, "loginguard-challenge")
    solve_captcha(browser)
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "#loginguard-challenge button[type=submit]").click()
    wait(browser).until(EC.url_contains("/admin/"))
    wait(browser).until(lambda d: "Site administration" in d.page_source)


def test_express_refuses_a_username_that_is_not_text(express_url: str, browser: WebDriver) -> None:
    """A JSON login whose username is not a string is a 400 that counts nothing."""
    browser.get(express_url + "/login")
    status = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1]
        fetch('/api/login', {
          method: 'POST',
          headers: {'Content-Type': 'application/json', Accept: 'application/json'},
          body: JSON.stringify({username: ['alice'], password: 'x'}),
        }).then(r => done(r.status))
        """
    )
    assert status == 400
