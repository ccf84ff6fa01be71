"""Data Docs are safe and work offline (issue 14.9).

A real validation run writes the page from extracts holding script, markup and template syntax in
every text column that reaches it (codes, names, types, file names, failing values, messages). The
page is parsed as HTML: every hostile value is text, no element or attribute of it became markup,
and nothing refers to another origin. The UI plugin serves it with a restrictive CSP; a real headless
Chromium with no network but loopback renders it styled, with no script run, no request blocked and
no CSP violation, and the same checks catch a planted page that pulls a CDN stylesheet and script.
"""

from __future__ import annotations

import re
import socket
import sys
import threading
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import pytest

from gp_allocations.data_docs import INDEX, STYLESHEET
from gp_allocations.periods import Period
from gp_allocations.validation import validate
from test_expectation_suites import valid_frames

ROOT = Path(__file__).resolve().parent.parent
Q2 = Period.parse("2025-26-Q2")
SCRIPT = "<script>alert(1)</script>"
HOSTILE = {
    # (extract, column, row index): value. Each makes a rule fail, so the value reaches the page.
    ("contracts", "practice_code", 1): SCRIPT,
    ("contracts", "contract_type", 2): '"><svg onload=alert(2)>',
    ("capitation_age_sex", "sex", 4): "</td></tr></table><script src=https://evil.example/x.js></script>",
    ("capitation_age_sex", "age_band", 7): "{{ 7*7 }}<iframe src=//evil.example>",
    ("practice_map", "practice_code", 0): "<img src=x onerror=alert(3)>",
    ("capitation_lsoa", "lsoa_code", 2): "<a href='javascript:alert(4)'>E01</a>",
}
HOSTILE_FILE = "gp-reg-pat-prac-quin-age<style>body{display:none}</style>.csv"
#: Every element the template writes; anything else in the page came from data.
TEMPLATE_TAGS = set(
    [
        "html",
        "head",
        "meta",
        "title",
        "link",
        "body",
        "header",
        "main",
        "section",
        "nav",
        "h1",
        "h2",
        "p",
        "span",
        "code",
        "strong",
        "small",
        "table",
        "caption",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "a",
        "br",
        "ul",
        "li",
    ]
)
EXTERNAL = re.compile(r"(?i)(?:https?:)?//|\burl\(|@import|javascript:")


class _Page(HTMLParser):
    """Elements, attributes and text of a page, as a browser's parser sees them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def _hostile_report(out: Path):
    frames = valid_frames()
    for (extract, column, row), value in HOSTILE.items():
        frames[extract][column] = frames[extract][column].astype("object")
        frames[extract].loc[row, column] = value
    frames["capitation_age_sex"]["_file"] = HOSTILE_FILE
    return validate(frames, out_dir=out, period=Q2)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return _hostile_report(tmp_path_factory.mktemp("validation"))


def _assert_safe(html: str) -> _Page:
    page = _Page(html)
    tags = {t for t, _ in page.tags}
    assert tags <= TEMPLATE_TAGS, f"markup from data: {sorted(tags - TEMPLATE_TAGS)}"
    for tag, attrs in page.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("href", "src"):
            if attrs.get(name):
                assert not EXTERNAL.search(attrs[name] or ""), (tag, attrs)
    return page


def test_every_extract_value_is_text_never_markup(report):
    html = report.data_docs_index.read_text(encoding="utf-8")
    page = _assert_safe(html)
    text = "".join(page.text)
    for value in [*HOSTILE.values(), HOSTILE_FILE]:
        assert value in text, f"{value!r} is not shown as text"
    assert "<script" not in html.lower() and "49<" not in text  # no element; template syntax not evaluated
    assert not report.passed and "validation FAILED" in text


def test_the_checker_catches_markup_planted_in_the_page(report):
    html = report.data_docs_index.read_text(encoding="utf-8")
    for planted in (SCRIPT, '<img src="x" onerror="alert(1)">', '<link href="https://cdn.example/b.css">'):
        with pytest.raises(AssertionError):
            _assert_safe(html.replace("</main>", planted + "</main>"))


def test_no_asset_refers_to_another_origin(report):
    folder = report.data_docs_index.parent
    assert sorted(p.name for p in folder.iterdir()) == sorted([INDEX, STYLESHEET])
    css = (folder / STYLESHEET).read_text(encoding="utf-8")
    assert not EXTERNAL.search(css)
    page = _Page((folder / INDEX).read_text(encoding="utf-8"))
    links = [a.get("href") for t, a in page.tags if t == "link"]
    assert links == [STYLESHEET]


# --- served by the UI plugin --------------------------------------------------------------------------


RUN_ID = "manual__2025-10-01T02:00:00+00:00"
SAFE_RUN = "manual__2025-10-01T02_00_00_00_00"


@pytest.fixture
def plugin(report, tmp_path, monkeypatch):
    """The UI plugin's app over a data folder holding the hostile run's validation folder."""
    import shutil

    data = tmp_path / "var"
    validation = data / "runs" / Q2.slug / SAFE_RUN / "validation"
    shutil.copytree(report.data_docs_index.parent.parent, validation)
    monkeypatch.setenv("GP_ALLOC_DATA_DIR", str(data))
    monkeypatch.setenv("GP_ALLOC_OUTPUT_ROOT", str(tmp_path / "outputs"))
    sys.path.insert(0, str(ROOT / "plugins"))
    import gp_allocations_ui

    return gp_allocations_ui, validation / "data_docs"


def test_plugin_serves_data_docs_under_a_restrictive_policy(plugin):
    from fastapi.testclient import TestClient

    ui, _ = plugin
    client = TestClient(ui.create_app(require_auth=False))
    base = f"/runs/{quote(RUN_ID, safe='')}/data-docs"
    page = client.get(f"{base}/{INDEX}")
    css = client.get(f"{base}/{STYLESHEET}")
    assert page.status_code == css.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert css.headers["content-type"].startswith("text/css")
    for response in (page, css):
        policy = response.headers["content-security-policy"]
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["default-src"] == "'none'" and directives["style-src"] == "'self'"
        assert "script-src" not in directives  # falls back to default-src 'none': no script at all
        assert directives["frame-ancestors"] == "'self'" and directives["base-uri"] == "'none'"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "SAMEORIGIN"
        assert response.headers["referrer-policy"] == "no-referrer"
    _assert_safe(page.text)


# --- a real browser with no network -------------------------------------------------------------------


class _Server:
    """The plugin's app under uvicorn on a free loopback port, in a thread."""

    def __init__(self, app) -> None:
        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.1)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


_WATCH = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.blockedURI));
window.__alerts = 0;
window.alert = () => { window.__alerts += 1; };
"""


def _visit(browser, url: str) -> dict:
    browser.open(url)
    time.sleep(0.5)  # let late resource errors and violation events arrive
    return browser.js(
        """(() => ({
          text: document.body.innerText,
          scripts: document.scripts.length,
          violations: window.__violations,
          alerts: window.__alerts,
          resources: performance.getEntriesByType('resource').map(r => r.name),
          collapsed: getComputedStyle(document.querySelector('table')).borderCollapse,
          sheets: document.styleSheets.length,
        }))()"""
    )


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Chromium")
def test_the_page_renders_offline_in_chromium_with_no_script_run(plugin, tmp_path):
    from _browser import NO_NETWORK, Browser

    ui, docs = plugin
    # the planted defect: GX's own Data Docs head (CDN stylesheet and script) over the same body
    index = (docs / INDEX).read_text(encoding="utf-8")
    (docs / "planted.html").write_text(
        index.replace(
            "</head>",
            '<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css">'
            '<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script></head>',
        ),
        encoding="utf-8",
    )
    server = _Server(ui.create_app(require_auth=False))
    browser = Browser(tmp_path / "chromium", extra_flags=NO_NETWORK)
    try:
        browser.send("Page.addScriptToEvaluateOnNewDocument", source=_WATCH)
        base = f"http://127.0.0.1:{server.port}/runs/{quote(RUN_ID, safe='')}/data-docs"
        seen = _visit(browser, f"{base}/{INDEX}")
        browser.screenshot(tmp_path / "data-docs.png")
        planted = _visit(browser, f"{base}/planted.html")
    finally:
        browser.close()
        server.stop()
    assert seen["scripts"] == 0 and seen["alerts"] == 0 and seen["violations"] == []
    assert seen["collapsed"] == "collapse" and seen["sheets"] == 1  # styled by report.css, offline
    origin = f"http://127.0.0.1:{server.port}/"
    assert f"{base}/{STYLESHEET}" in seen["resources"]
    assert all(r.startswith(origin) for r in seen["resources"]), seen["resources"]
    for value in [SCRIPT, HOSTILE_FILE, *HOSTILE.values()]:
        assert value in seen["text"]
    # the same checks see the planted page's CDN references refused
    assert len(planted["violations"]) == 2 and all("//" in v for v in planted["violations"])
