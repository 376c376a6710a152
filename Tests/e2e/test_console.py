"""The operator's web console (`/admin`) in a real browser: Debian's chromium, headless, driven by
selenium through Debian's chromedriver. One gateway (embedded SQLite) with two downstreams registered
through the API: `alpha` (the basic tool set) and `hostile` (a tool whose description is markup).

What is checked: the security headers of the three files; signing in (a wrong key is refused, the right
one shows the services and their tools, schemas rendered); registering through the page (the dry-run
diff first, then the confirmation) and the live feed showing it; deleting with a confirmation; routes
that this gateway lacks (virtual servers, tokens) leave a note and no error; markup in a tool's
description stays text and runs nothing.

A screenshot of each page goes to $CONSOLE_ARTIFACTS_DIR, or else to a folder under pytest's temporary
directory (its path is printed at the end of the module). Skipped only when chromium, chromedriver or
selenium is missing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from admin_fixtures import API_KEY, Admin, Downstream, unique_name
from conftest import GatewayFactory

CHROMIUM = os.environ.get("CHROMIUM_BIN", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BIN", "/usr/bin/chromedriver")
XSS = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
WAIT = 10  # seconds for anything the page does

pytestmark = pytest.mark.deadline(45)


def _missing() -> str | None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} not found: install the Debian package {package} (scripts/deps.sh)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed in this Python (scripts/venv.sh)"
    return None


@pytest.fixture(scope="module")
def site(gateway_bin, tmp_path_factory):
    """The gateway, its two registered downstreams and an Admin client."""
    factory = GatewayFactory(gateway_bin, tmp_path_factory.mktemp("console-gateway"))
    downstreams = []
    try:
        gw = factory(WATCH_DOWNSTREAMS="false", SSE_KEEPALIVE="2")
        alpha = Downstream(workdir=tmp_path_factory.mktemp("alpha"))
        downstreams.append(alpha)
        hostile = Downstream("--note-description", XSS, workdir=tmp_path_factory.mktemp("hostile"))
        downstreams.append(hostile)
        admin = Admin(gw.url)
        for name, d in (("alpha", alpha), ("hostile", hostile)):
            r = admin.register(name, d.url)
            assert r.status_code == 201, r.text
        yield type("Site", (), {"gw": gw, "alpha": alpha, "hostile": hostile, "admin": admin})
        admin.close()
    finally:
        for d in downstreams:
            d.stop()
        problems = factory.teardown(failed=False)
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def shots(tmp_path_factory, request):
    """Where screenshots go; the folder is printed when the module ends."""
    env = os.environ.get("CONSOLE_ARTIFACTS_DIR")
    folder = Path(env) if env else tmp_path_factory.mktemp("console-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    yield folder
    line = f"\nconsole screenshots: {folder}"
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture:
        with capture.global_and_fixture_disabled():  # shown even when output is captured
            print(line)
    else:
        print(line)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1366,900",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


# ---------------------------------------------------------------------------------------------------
# helpers

def wait(driver, condition, what: str, timeout: float = WAIT):
    """condition(driver) until truthy; an element re-rendered meanwhile (stale) just means try again."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.05,
                             ignored_exceptions=[StaleElementReferenceException]).until(lambda d: condition(d))
    except TimeoutException:
        status = driver.execute_script("const s = document.getElementById('status'); return s && !s.hidden ? s.textContent : null")
        pytest.fail(f"{what} within {timeout} s (status line: {status!r})", pytrace=False)


def css(driver, selector: str):
    from selenium.webdriver.common.by import By
    return driver.find_elements(By.CSS_SELECTOR, selector)


def one(driver, selector: str):
    found = wait(driver, lambda d: [e for e in css(d, selector) if e.is_displayed()], f"{selector} shown")
    return found[0]


def click(driver, selector: str) -> None:
    """Clicks the first displayed match, again if the page re-rendered it under the cursor."""
    def attempt(d):
        found = [e for e in css(d, selector) if e.is_displayed()]
        if not found:
            return False
        found[0].click()
        return True
    wait(driver, attempt, f"{selector} clicked")


def texts(driver, selector: str) -> list[str]:
    """The text of every match, read in one go (no element handle to go stale)."""
    return driver.execute_script("return Array.from(document.querySelectorAll(arguments[0])).map(e => e.textContent)", selector)


def shot(driver, folder: Path, name: str) -> None:
    driver.save_screenshot(str(folder / f"{name}.png"))


def sign_in(driver, url: str, key: str = API_KEY) -> None:
    driver.get(url + "/admin")
    field = one(driver, "#key")
    field.clear()
    field.send_keys(key)
    click(driver, "#login-form button[type=submit]")


def tab(driver, name: str) -> None:
    click(driver, f'#tabs button[data-tab="{name}"]')
    one(driver, f"#tab-{name}")


def status_text(driver) -> str:
    s = css(driver, "#status")
    return s[0].text if s and s[0].is_displayed() else ""


# ---------------------------------------------------------------------------------------------------
# tests

def test_the_three_files_carry_the_security_headers(site):
    for path, ctype in (("/admin", "text/html"), ("/admin/console.js", "text/javascript"), ("/admin/console.css", "text/css")):
        r = httpx.get(site.gw.url + path, timeout=5)  # no key: the page holds no secret
        assert r.status_code == 200, (path, r.status_code)
        h = r.headers
        assert h["content-type"].startswith(ctype), (path, h["content-type"])
        assert h["content-security-policy"] == CSP, (path, h.get("content-security-policy"))
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff", (path, dict(h))
        assert h["referrer-policy"] == "no-referrer" and h["cache-control"] == "no-cache", (path, dict(h))
        again = httpx.get(site.gw.url + path, headers={"If-None-Match": h["etag"]}, timeout=5)
        assert again.status_code == 304 and again.content == b"", (path, again.status_code)
    page = httpx.get(site.gw.url + "/admin", timeout=5).text
    assert "<script src=\"/admin/console.js\"" in page and "<style" not in page


def test_sign_in_and_see_the_services_and_their_tools(site, browser, shots):
    sign_in(browser, site.gw.url, key="not-the-key")
    wait(browser, lambda d: "invalid API key" in status_text(d), "a wrong key is refused")
    assert one(browser, "#login").is_displayed()
    shot(browser, shots, "01-sign-in-refused")

    sign_in(browser, site.gw.url)
    one(browser, 'tr[data-service="alpha"]')
    assert browser.execute_script("return sessionStorage.getItem('mcp-gateway.apiKey')") == API_KEY
    cells = texts(browser, 'tr[data-service="alpha"] td')
    assert cells[0] == "alpha" and cells[1] in ("healthy", "degraded", "down") and cells[2] == site.alpha.url, cells
    assert cells[3] == "6" and cells[6].startswith("register · admin"), cells
    one(browser, 'tr[data-service="hostile"]')
    wait(browser, lambda d: "live" in one(d, "#feed-state").text, "the live feed connects")
    shot(browser, shots, "02-services")

    # History of a service: its register, no drift.
    click(browser, 'tr[data-service="alpha"] button[data-action="history"]')
    wait(browser, lambda d: "History of alpha: 1 change" in one(d, "#history-title").text, "the history shows")
    assert "Added (6)" in texts(browser, "#history-body")[0]
    one(browser, "#history-close").click()

    tab(browser, "tools")
    wait(browser, lambda d: css(d, 'details[data-tool="alpha__add"]'), "the tools list")
    search = one(browser, "#tool-search")
    search.send_keys("alpha__ad")
    wait(browser, lambda d: len(css(d, "#tool-list details.tool")) == 1, "the search narrows the list to alpha__add")
    click(browser, 'details[data-tool="alpha__add"] summary')
    schema = wait(browser, lambda d: [e for e in css(d, 'details[data-tool="alpha__add"] table.schema') if e.is_displayed()],
                  "the input schema table")[0]
    rows = texts(browser, 'details[data-tool="alpha__add"] .tool-body > table.schema:first-of-type > tbody > tr')
    assert [t.split()[0] for t in rows] == ["a", "b"], rows  # the input schema; the output schema follows
    assert "result" in texts(browser, 'details[data-tool="alpha__add"] .tool-body > table.schema:last-of-type')[0]
    assert "integer" in schema.text
    shot(browser, shots, "03-tools")
    search.clear()


def test_register_through_the_page_shows_the_dry_run_first(site, browser, shots):
    name = unique_name("gamma")
    tab(browser, "services")
    one(browser, "#reg-name").send_keys(name)
    one(browser, "#reg-url").send_keys(site.alpha.url)
    click(browser, "#register-form button[type=submit]")
    one(browser, "#preview")
    wait(browser, lambda d: "Added (6)" in texts(d, "#preview")[0], "the dry-run diff")
    assert f"{name}__echo" in texts(browser, "#preview")[0]
    assert not css(browser, f'tr[data-service="{name}"]'), "a dry run must not register"
    assert site.admin.service(name).status_code == 404, "a dry run stored the service"
    shot(browser, shots, "04-register-preview")

    confirm = one(browser, "#preview-confirm")
    assert confirm.text == f"Register {name}"
    click(browser, "#preview-confirm")
    one(browser, f'tr[data-service="{name}"]')
    wait(browser, lambda d: f"Registered {name}" in status_text(d), "the confirmation message")
    assert site.admin.service(name).status_code == 200
    assert not one_displayed(browser, "#preview")

    # The live feed saw the change.
    tab(browser, "feed")
    wait(browser, lambda d: any(name in li.text and "register" in li.text for li in css(d, '#feed li[data-type="registry"]')),
         "the register in the live feed")
    shot(browser, shots, "05-live-feed")


def one_displayed(driver, selector: str) -> bool:
    return any(e.is_displayed() for e in css(driver, selector))


def test_delete_asks_for_confirmation(site, browser, shots):
    name = unique_name("doomed")
    assert site.admin.register(name, site.alpha.url).status_code == 201
    tab(browser, "services")
    click(browser, "#services-refresh")
    click(browser, f'tr[data-service="{name}"] button[data-action="delete"]')
    dialog = one(browser, "dialog#confirm")
    assert name in dialog.text
    shot(browser, shots, "06-delete-confirmation")
    click(browser, "#confirm-no")
    wait(browser, lambda d: not one_displayed(d, "dialog#confirm"), "the dialog closes")
    assert site.admin.service(name).status_code == 200, "cancel deleted the service"

    click(browser, f'tr[data-service="{name}"] button[data-action="delete"]')
    click(browser, "#confirm-yes")
    wait(browser, lambda d: not css(d, f'tr[data-service="{name}"]'), "the row goes")
    wait(browser, lambda d: f"Deleted {name}" in status_text(d), "the confirmation message")
    assert site.admin.service(name).status_code == 404


def test_replicas_tab_shows_this_replica_current(site, browser, shots):
    tab(browser, "replicas")
    one(browser, "#replicas tbody tr")
    row = texts(browser, "#replicas tbody tr")[0]
    assert "this one" in row and "current" in row, row
    shot(browser, shots, "08-replicas")


def test_markup_in_a_tool_description_stays_text(site, browser, shots):
    tab(browser, "tools")
    click(browser, "#tools-refresh")
    search = one(browser, "#tool-search")
    search.clear()
    search.send_keys("hostile")
    click(browser, 'details[data-tool="hostile__note"] summary')
    description = wait(browser, lambda d: [e for e in css(d, 'details[data-tool="hostile__note"] .description') if e.is_displayed()],
                       "the description")[0]
    assert description.text == XSS
    assert browser.execute_script("return window.__xss") is None
    assert browser.execute_script("return document.querySelectorAll('#tool-list img, #tool-list script').length") == 0
    time.sleep(0.2)  # an onerror would have fired by now
    assert browser.execute_script("return typeof window.__xss") == "undefined"
    shot(browser, shots, "09-xss-as-text")
    search.clear()


def test_sign_out_forgets_the_key(site, browser):
    click(browser, "#logout")
    one(browser, "#login")
    assert browser.execute_script("return sessionStorage.getItem('mcp-gateway.apiKey')") is None
    browser.refresh()
    one(browser, "#login")
    assert not one_displayed(browser, "#tabs")



# ---------------------------------------------------------------------------------------------------
# A gateway without some admin routes (an older replica behind the same load balancer): the page
# notes what is missing instead of showing errors, and does not ask again.

class StandIn:
    """An HTTP server with the console's files (as committed) and only /services of the admin API:
    /virtual-servers, /tokens, /replicas and /events answer 404."""

    KEY = "stand-in-key"

    def __init__(self):
        import http.server
        import json
        import threading

        console = Path(__file__).resolve().parents[2] / "Sources" / "Gateway" / "Console"
        files = {"/admin": ("index.html", "text/html"), "/admin/console.js": ("console.js", "text/javascript"),
                 "/admin/console.css": ("console.css", "text/css")}
        stand_in = self
        self.requests: list[tuple[str, str]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _send(self, status, body=None, ctype="application/json", extra=()):
                data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                for k, v in extra:
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self):
                path = self.path.split("?")[0]
                if self.command == "GET" and path in files:
                    name, ctype = files[path]
                    return self._send(200, (console / name).read_bytes(), f"{ctype}; charset=utf-8",
                                      [("Content-Security-Policy", CSP)])
                if self.headers.get("X-API-Key") != StandIn.KEY:
                    return self._send(401, {"error": {"code": "unauthorized", "message": "invalid API key"}})
                stand_in.requests.append((self.command, path))
                if path == "/services":
                    return self._send(200, {"services": [], "count": 0})
                return self._send(404, {"error": {"code": "not_found", "message": f"no route for {self.command} {path}"}})

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def stand_in():
    s = StandIn()
    yield s
    s.stop()


def test_routes_a_gateway_lacks_leave_a_note_not_errors(stand_in, browser, shots):
    sign_in(browser, stand_in.url, key=StandIn.KEY)
    one(browser, "#services-empty")
    wait(browser, lambda d: "no live feed" in one(d, "#feed-state").text, "the feed says there is none")
    for name, note in (("virtual", "#virtual-note"), ("tokens", "#tokens-note"), ("replicas", "#replicas-note")):
        tab(browser, name)
        assert "not available" in one(browser, note).text, name
        shot(browser, shots, f"07-missing-{name}")
    tab(browser, "services")
    tab(browser, "replicas")  # a route that answered 404 is not asked again
    assert [p for m, p in stand_in.requests if p == "/replicas"] == ["/replicas"]
    status = css(browser, "#status")[0]
    assert not (status.is_displayed() and "error" in status.get_attribute("class")), status.text


def test_virtual_servers_and_tokens_through_the_page(site, browser, shots):
    gw, admin = site.gw, site.admin
    sign_in(browser, gw.url)
    tab(browser, "virtual")
    one(browser, "#vs-name").send_keys("ops")
    one(browser, "#vs-include").send_keys("alpha__echo, alpha__add")
    one(browser, "#vs-overrides").send_keys('{"alpha__echo": {"description": "<b>echo</b>"}}')
    click(browser, "#vs-submit")
    one(browser, 'tr[data-virtual="ops"]')
    stored = admin.request("GET", "/virtual-servers/ops").json()
    assert stored["include"] == ["alpha__echo", "alpha__add"] and stored["exclude"] == [], stored
    assert stored["overrides"] == {"alpha__echo": {"description": "<b>echo</b>"}}, stored
    row = texts(browser, 'tr[data-virtual="ops"]')[0]
    assert "/mcp/ops" in row and "<b>echo</b>" in row, row
    shot(browser, shots, "10-virtual-servers")

    # A bad definition: the API's message on the page, nothing stored.
    one(browser, "#vs-name").send_keys("Bad Name")
    click(browser, "#vs-submit")
    wait(browser, lambda d: "name" in one(d, "#status").text and "error" in one(d, "#status").get_attribute("class"),
         "the API's 400 is shown")
    one(browser, "#vs-name").clear()

    click(browser, 'tr[data-virtual="ops"] button.secondary')  # Edit: PUT replaces the definition
    one(browser, "#vs-exclude").send_keys("alpha__add")
    click(browser, "#vs-submit")
    wait(browser, lambda d: admin.request("GET", "/virtual-servers/ops").json()["exclude"] == ["alpha__add"], "the edit is stored")

    tab(browser, "tokens")
    one(browser, "#tok-name").send_keys("ci")
    one(browser, "#tok-vs").send_keys("ops")
    one(browser, "#tok-rate").send_keys("60")
    click(browser, "#token-form button[type=submit]")
    wait(browser, lambda d: texts(d, "#token-value")[0].startswith("mgt_"), "the new token, shown once")
    secret = texts(browser, "#token-value")[0]
    listed = admin.request("GET", "/tokens").json()["tokens"]
    mine = [t for t in listed if t["name"] == "ci"]
    assert len(mine) == 1 and mine[0]["virtualServers"] == ["ops"] and mine[0]["rateLimit"] == {"perMinute": 60}, listed
    assert secret not in str(listed)
    row = one(browser, f'tr[data-token="{mine[0]["id"]}"]')
    assert "60/min" in row.text, row.text
    shot(browser, shots, "11-tokens")
    click(browser, "#token-secret-close")
    assert texts(browser, "#token-value")[0] == "", "the secret stays on the page"
    click(browser, f'tr[data-token="{mine[0]["id"]}"] button.danger')
    click(browser, "#confirm-yes")
    wait(browser, lambda d: not css(d, f'tr[data-token="{mine[0]["id"]}"]'), "the token is revoked")
    assert [t for t in admin.request("GET", "/tokens").json()["tokens"] if t["name"] == "ci"] == []

    tab(browser, "virtual")
    click(browser, 'tr[data-virtual="ops"] button.danger')
    click(browser, "#confirm-yes")
    wait(browser, lambda d: not css(d, 'tr[data-virtual="ops"]'), "the virtual server goes")
    assert admin.request("GET", "/virtual-servers/ops").status_code == 404
