"""Launch `python app.py` on a free loopback port and wait until it answers (used by the app benchmark and
the app's tests)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    def __init__(self, model: Path | str, *, concurrency: int = 2):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--model", str(model), "--port",
                                      str(self.port), "--concurrency", str(concurrency)], cwd=ROOT, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.startup_s = self._wait()

    def _wait(self, timeout: float = 90) -> float:
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited: {self.proc.stdout.read()[-3000:]}")
            try:
                urllib.request.urlopen(self.url, timeout=2)
                return time.time() - t0
            except OSError:
                time.sleep(0.25)
        self.close()
        raise RuntimeError(f"app did not answer at {self.url} within {timeout} s")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
