"""Launch `python app.py` on a free loopback port and wait until it answers (used by the app benchmark and
the app's tests)."""
from __future__ import annotations

import os
import socket
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    def __init__(self, model: Path | str, *, concurrency: int = 2, extra_args: tuple[str, ...] = ()):
        """extra_args: more arguments of app.py (e.g. ("--model3d", folder))."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        # The server's own Gradio cache (what it writes and serves) and a separate folder for the clients' downloads:
        # gradio_client saves into /tmp/gradio by default, the server's default cache, and a client writing its copy
        # where the server serves from would mask or cause the very races the load tests look for.
        self.cache = Path(tempfile.mkdtemp(prefix="linkgan-app-cache-"))
        self.downloads = Path(tempfile.mkdtemp(prefix="linkgan-app-client-"))
        # the server's output goes to a file, not a pipe: nobody reads a pipe while the tests run, and once its
        # 64 KB buffer is full (error logs under load) every write of the server blocks and it stops answering
        self.log_path = self.downloads.with_name(self.downloads.name + ".log")
        self._log = open(self.log_path, "w")
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "GRADIO_ANALYTICS_ENABLED": "False",
               "GRADIO_TEMP_DIR": str(self.cache)}
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--model", str(model), "--port",
                                      str(self.port), "--concurrency", str(concurrency), *extra_args], cwd=ROOT, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        self.startup_s = self._wait()

    def _wait(self, timeout: float = 90) -> float:
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited: {self.log()[-3000:]}")
            try:
                urllib.request.urlopen(self.url, timeout=2)
                return time.time() - t0
            except OSError:
                time.sleep(0.25)
        self.close()
        raise RuntimeError(f"app did not answer at {self.url} within {timeout} s")

    def log(self) -> str:
        """What the server has printed so far."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def client(self, **kw):
        """A gradio_client Client of the running app, downloading into self.downloads."""
        from gradio_client import Client
        return Client(self.url, verbose=False, download_files=str(self.downloads), **kw)

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()
        self.log_path.unlink(missing_ok=True)
        for folder in (self.cache, self.downloads):
            shutil.rmtree(folder, ignore_errors=True)
