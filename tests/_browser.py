"""A real headless Chromium driven through the DevTools protocol (no driver, no extra package).

``NO_NETWORK`` flags leave Chromium only the loopback interface (every name resolves to nothing and
every other request goes to a dead proxy), to show a page renders offline.

Enough for what a user does on the Airflow UI: open a page, wait for text, type into a React form,
click a button, read the page, take a screenshot. ``websockets`` comes with Airflow.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import time
from pathlib import Path

from websockets.sync.client import connect

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

NO_NETWORK = (
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
)


class Browser:
    """One Chromium process and one page; close() stops the process."""

    def __init__(
        self, profile: Path, width: int = 1500, height: int = 950, extra_flags: tuple[str, ...] = ()
    ) -> None:
        profile.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [CHROMIUM, *FLAGS, *extra_flags, f"--user-data-dir={profile}", "--remote-debugging-port=0",
             f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("Chromium did not start")
            time.sleep(0.2)
        port = int(port_file.read_text().split()[0])
        import urllib.request

        pages = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10).read())
        page = next(p for p in pages if p.get("type") == "page")
        self.ws = connect(page["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024, open_timeout=30)
        self._id = 0
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.resize(width, height)

    def resize(self, width: int, height: int) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def send(self, method: str, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv(timeout=120))
            if message.get("id") == self._id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def js(self, expression: str):
        """The value of a JavaScript expression in the page (awaited if it is a promise)."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    def open(self, url: str) -> None:
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def wait_for(self, expression: str, timeout: float = 60, what: str | None = None):
        expression = f"!!({expression})"
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.js(expression)
            except RuntimeError:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what or expression}; page text: {self.text()[:1500]}"
                )
            time.sleep(0.5)

    def wait_for_text(self, text: str, timeout: float = 60) -> None:
        self.wait_for(
            f"document.body && document.body.innerText.includes({json.dumps(text)})", timeout, repr(text)
        )

    def text(self) -> str:
        try:
            return self.js("document.body ? document.body.innerText : ''") or ""
        except RuntimeError:
            return ""

    def type_into(self, selector: str, value: str) -> None:
        """Type as a user does, so React's controlled inputs see the change."""
        self.js(
            f"""(() => {{
              const el = document.querySelector({json.dumps(selector)});
              const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement : HTMLInputElement;
              Object.getOwnPropertyDescriptor(proto.prototype, 'value').set.call(el, {json.dumps(value)});
              el.dispatchEvent(new Event('input', {{ bubbles: true }}));
              return true;
            }})()"""
        )

    def click_button(self, label: str, within: str = "document", timeout: float = 60) -> None:
        """Click the button whose text is ``label`` (the last one, e.g. a dialog's) once it is enabled:
        React enables a form's button only after it has seen the typed values."""
        clicked = f"""(() => {{
              const scope = {within};
              if (!scope) return false;
              const buttons = [...scope.querySelectorAll('button')]
                .filter(b => b.innerText.trim() === {json.dumps(label)} && !b.disabled);
              if (!buttons.length) return false;
              buttons[buttons.length - 1].click();
              return true;
            }})()"""
        self.wait_for(clicked, timeout, f"an enabled button {label!r}")

    def login(self, base: str, username: str, password: str) -> None:
        """Sign in through the auth manager's own login form, as a user does."""
        self.open(f"{base}/")
        self.wait_for("document.querySelector('input[type=password]')", 90, "the login form")
        self.type_into("input:not([type=password]):not([type=hidden])", username)
        self.type_into("input[type=password]", password)
        self.click_button("Sign in")
        self.wait_for("!document.querySelector('input[type=password]')", 60, "the login to finish")

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
