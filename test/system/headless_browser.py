"""A real headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe):
no websocket client, no driver binary, only the browser from Debian's `chromium` package.

Records the page's network traffic (URL -> bytes received, failed requests) and takes
screenshots. The network of these machines is closed: Chromium runs with every background
service off and a new empty profile.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         # WebGL through the software rasteriser: Rerun's viewer draws on a canvas with WebGL2
         "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class HeadlessChromium:
    """One browser with one page. Use as a context manager."""

    def __init__(self, profile_dir: Path, size: tuple[int, int] = (1280, 800), binary: str | None = None) -> None:
        binary = binary or find_chromium()
        if binary is None:
            raise RuntimeError("chromium is not installed (scripts/setup.sh --with-browser installs it)")
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()

        def pipes_at_3_and_4() -> None:  # where --remote-debugging-pipe expects them
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile_dir}", f"--window-size={size[0]},{size[1]}",
             "--remote-debugging-pipe", "about:blank"],
            preexec_fn=pipes_at_3_and_4, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._out = os.fdopen(to_browser_w, "wb", buffering=0)
        self._in = os.fdopen(from_browser_r, "rb", buffering=0)
        self._next_id = 0
        self._results: dict[int, dict] = {}
        self.events: list[dict] = []
        self._cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Network.enable", session=True)
        self.send("Page.enable", session=True)

    def _read(self) -> None:
        buffer = b""
        while chunk := self._in.read(65536):
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                with self._cv:
                    if "id" in message:
                        self._results[message["id"]] = message
                    else:
                        self.events.append(message)
                    self._cv.notify_all()

    def send(self, method: str, params: dict | None = None, session: bool = False, timeout_s: float = 30.0) -> dict:
        self._next_id += 1
        call_id = self._next_id
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self._out.write(json.dumps(message).encode() + b"\0")
        with self._cv:
            if not self._cv.wait_for(lambda: call_id in self._results, timeout_s):
                raise TimeoutError(f"no answer to {method} within {timeout_s} s")
            answer = self._results.pop(call_id)
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def open(self, url: str) -> None:
        self.send("Page.navigate", {"url": url}, session=True)

    def screenshot(self, path: Path, timeout_s: float = 120.0) -> bytes:
        png = base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"}, session=True, timeout_s=timeout_s)["data"])
        path.write_bytes(png)
        return png

    def traffic(self) -> tuple[dict[str, int], dict[str, str]]:
        """(URL -> bytes received so far, URL -> error of the requests that failed)."""
        with self._cv:
            events = list(self.events)
        urls: dict[str, str] = {}
        received: dict[str, int] = {}
        failed: dict[str, str] = {}
        for event in events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.requestWillBeSent":
                urls[params["requestId"]] = params["request"]["url"]
            elif method == "Network.dataReceived":
                url = urls.get(params["requestId"], "?")
                received[url] = received.get(url, 0) + int(params["dataLength"])
            elif method == "Network.loadingFailed":
                failed[urls.get(params["requestId"], "?")] = params.get("errorText", "")
        return received, failed

    def wait_received(self, url_part: str, min_bytes: int, timeout_s: float) -> int:
        """Wait until responses to URLs containing `url_part` brought `min_bytes`; the bytes so far."""
        deadline = time.monotonic() + timeout_s
        while True:
            got = sum(n for url, n in self.traffic()[0].items() if url_part in url)
            if got >= min_bytes or time.monotonic() > deadline:
                return got
            time.sleep(0.25)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    def __enter__(self) -> "HeadlessChromium":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
