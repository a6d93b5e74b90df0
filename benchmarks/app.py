"""The app under load on loopback: startup time of `python app.py` on the embedded default, and latency
percentiles per API with concurrent gradio_client users (each its own session), on this CPU."""
from __future__ import annotations

import concurrent.futures as cf
import statistics
import time


def _percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def run(*, quick: bool = False) -> dict:
    from gradio_client import Client

    from linkgan.hub import DEFAULT_GENERATOR

    from .app_server import AppServer

    clients, rounds = (4, 3) if quick else (10, 10)
    server = AppServer(DEFAULT_GENERATOR)
    try:
        lat: dict[str, list[float]] = {"/generate": [], "/region": [], "/undo": []}

        def user(i: int) -> None:
            c = Client(server.url, verbose=False)
            for r in range(rounds):
                for api, args in (("/generate", (1000 * i + r, 0.7)), ("/region", (["eyes"], 7 + r, 1.0)),
                                  ("/undo", ())):
                    t0 = time.perf_counter()
                    c.predict(*args, api_name=api)
                    lat[api].append((time.perf_counter() - t0) * 1000)

        with cf.ThreadPoolExecutor(clients) as pool:
            list(pool.map(user, range(clients)))
        out = {"startup_s": round(server.startup_s, 2), "clients": clients,
               "requests": sum(len(v) for v in lat.values())}
        for api, xs in lat.items():
            out[api.strip("/")] = {"p50_ms": round(statistics.median(xs), 1), "p95_ms": round(_percentile(xs, 0.95), 1)}
        return out
    finally:
        server.close()
