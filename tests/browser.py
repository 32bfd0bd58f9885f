"""A real browser for the tests: headless Chromium (Debian's `chromium`) driven over the DevTools
protocol on a pipe (`--remote-debugging-pipe`: no port is opened), to load the project's static
pages from disk and check what a person would see.

    with HeadlessChromium(tmp_path / "profile") as browser:
        seen = browser.open(path_to_html, ".item", screenshot=tmp_path / "page.png")
        seen["items"], seen["broken"], seen["off_machine"]

`open` waits until the page shows at least one item and every <img> has finished, then reports
the number of items, the images and which did not load (naturalWidth 0), the page's text, and
every request that was not for a local file (a self-contained page makes none). Nothing can leave
the machine: every request but file:, data: and about: is blocked in the browser, and the proxy
is a closed port on 127.0.0.1. `.ci/run` installs the package when it is absent.
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Optional

CHROMIUM = "chromium"
WINDOW = (1280, 900)
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
          "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--disable-extensions",
          "--disable-default-apps", "--metrics-recording-only", "--mute-audio",
          "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
          "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
          "--allow-file-access-from-files")
_LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")

# Waits (in the page) until `selector` matches and every image has finished, or the deadline.
_WAIT_AND_REPORT = """
(async (selector, limitMs) => {
  const deadline = Date.now() + limitMs;
  const done = () => document.readyState === 'complete'
      && document.querySelectorAll(selector).length > 0
      && Array.from(document.images).every(img => img.complete);
  while (!done() && Date.now() < deadline) { await new Promise(r => setTimeout(r, 50)); }
  const images = Array.from(document.images);
  return {items: document.querySelectorAll(selector).length, images: images.length,
          broken: images.filter(img => !(img.naturalWidth > 0)).map(img => img.getAttribute('src')),
          title: document.title, text: document.body ? document.body.innerText : ''};
})
"""


def available() -> bool:
    return shutil.which(CHROMIUM) is not None


class BrowserError(RuntimeError):
    pass


class HeadlessChromium:
    """One headless Chromium with one tab; `open` loads a local file in it."""

    def __init__(self, profile_dir, timeout_s: float = 60.0):
        self._profile = Path(profile_dir)
        self._timeout = timeout_s
        self._next_id = 0
        self._buffer = b""
        self._events: list = []
        self._proc: Optional[subprocess.Popen] = None

    # --- process and pipe -------------------------------------------------------------------

    def __enter__(self) -> "HeadlessChromium":
        if not available():
            raise BrowserError(f"{CHROMIUM} is not installed (.ci/run installs it)")
        self._profile.mkdir(parents=True, exist_ok=True)
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        # Above any fd the child's dup2 onto 3 and 4 could clobber.
        child_in = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
        child_out = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
        os.close(to_browser_r)
        os.close(from_browser_w)

        def pipes_on_3_and_4():
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self._proc = subprocess.Popen(
            [CHROMIUM, *_FLAGS, f"--user-data-dir={self._profile}",
             f"--window-size={WINDOW[0]},{WINDOW[1]}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self._profile / "chromium.log", "wb"),
            pass_fds=(3, 4), preexec_fn=pipes_on_3_and_4)
        os.close(child_in)
        os.close(child_out)
        self._write, self._read = to_browser_w, from_browser_r
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._call("Target.attachToTarget",
                                   {"targetId": target, "flatten": True})["sessionId"]
        for method in ("Page.enable", "Network.enable"):
            self.send(method)
        self.send("Network.setBlockedURLs", {"urls": ["http://*", "https://*", "ws://*",
                                                      "wss://*", "ftp://*"]})
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": WINDOW[0], "height": WINDOW[1], "deviceScaleFactor": 1,
                   "mobile": False})
        return self

    def __exit__(self, *exc) -> None:
        if self._proc is not None:
            try:
                self._call("Browser.close")
            except (BrowserError, OSError):
                pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for fd in (self._write, self._read):
            try:
                os.close(fd)
            except OSError:
                pass

    def _call(self, method: str, params: Optional[dict] = None,
              session: Optional[str] = None) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self._timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            if "method" in reply:
                self._events.append(reply)

    def _receive(self, deadline: float) -> dict:
        import select

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("Chromium did not answer in time")
            ready, _, _ = select.select([self._read], [], [], left)
            if ready:
                chunk = os.read(self._read, 1 << 20)
                if not chunk:
                    raise BrowserError("Chromium closed the pipe (see chromium.log)")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    # --- what the tests use -----------------------------------------------------------------

    def send(self, method: str, params: Optional[dict] = None) -> dict:
        """A DevTools command to the tab."""
        return self._call(method, params, self._session)

    def evaluate(self, expression: str):
        """A JavaScript expression's value in the page (promises awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression,
                                                "awaitPromise": True, "returnByValue": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, selector: str, limit_ms: int = 20000) -> dict:
        """Waits until `selector` matches and every image finished; reports what is shown."""
        seen = self.evaluate(f"{_WAIT_AND_REPORT}({json.dumps(selector)}, {limit_ms})")
        seen["off_machine"] = [e["params"]["request"]["url"] for e in self._events
                               if e.get("method") == "Network.requestWillBeSent"
                               and not e["params"]["request"]["url"].startswith(_LOCAL_SCHEMES)]
        return seen

    def open(self, html_path, selector: str, screenshot=None) -> dict:
        """Loads a local HTML file; returns `wait_for(selector)`'s report, after saving a
        full-page screenshot to `screenshot` when given."""
        self._events.clear()
        url = Path(html_path).resolve().as_uri()
        self.send("Page.navigate", {"url": url})
        seen = self.wait_for(selector)
        if screenshot is not None:
            self.screenshot(screenshot)
        return seen

    def screenshot(self, path, full_page: bool = True) -> str:
        params = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"],
                                "height": min(size["height"], 16000), "scale": 1})
        data = base64.b64decode(self.send("Page.captureScreenshot", params)["data"])
        Path(path).write_bytes(data)
        return str(path)
