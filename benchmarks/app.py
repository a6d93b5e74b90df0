"""The app under load on loopback: startup time of `python app.py` on the embedded default, and latency
percentiles per API with concurrent gradio_client users (each its own session), on this CPU: every user
generates, resamples a region, applies a mapper and a global direction, undoes, and inverts a photo."""
from __future__ import annotations

import concurrent.futures as cf
import statistics
import time


MAPPER_PROMPT = "a face with purple hair"        # a shipped mapper of the default zoo
GLOBAL_TARGET = "a face with blond hair"


def _percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def run(*, quick: bool = False) -> dict:
    from gradio_client import Client

    from linkgan.hub import DEFAULT_GENERATOR

    from .app_server import AppServer

    import tempfile
    from pathlib import Path

    from gradio_client import handle_file
    from PIL import Image

    from linkgan.data import HELDOUT_SEEDS, toy_face

    clients, rounds = (4, 3) if quick else (10, 10)
    server = AppServer(DEFAULT_GENERATOR)
    # each user uploads its own held-out procedural face. (Identical outputs to concurrent users share one file in
    # Gradio's cache, which is rewritten while another download streams it: a truncated download. Real users upload
    # different photos; README notes the race.)
    folder = Path(tempfile.mkdtemp())
    photos = []
    for i in range(clients):
        photos.append(folder / f"face{i}.png")
        Image.fromarray(toy_face(HELDOUT_SEEDS.start + i, size=256).image).save(photos[-1])
    try:
        calls = [("/generate", lambda i, r: (1000 * i + r, 0.7)), ("/region", lambda i, r: (["eyes"], 7 + r, 1.0)),
                 ("/text_mapper", lambda i, r: (MAPPER_PROMPT, 0.1)),
                 ("/text_global", lambda i, r: (GLOBAL_TARGET, "a face", 5.0, 0.5, 10)),
                 ("/undo", lambda i, r: ()), ("/invert_photo", lambda i, r: (handle_file(str(photos[i])), "encoder", 10))]
        lat: dict[str, list[float]] = {api: [] for api, _ in calls}

        def user(i: int) -> None:
            c = Client(server.url, verbose=False)
            for r in range(rounds):
                for api, make_args in calls:
                    args = make_args(i, r)
                    t0 = time.perf_counter()
                    c.predict(*args, api_name=api)
                    lat[api].append((time.perf_counter() - t0) * 1000)

        with cf.ThreadPoolExecutor(clients) as pool:
            list(pool.map(user, range(clients)))
        out = {"startup_s": round(server.startup_s, 2), "clients": clients,
               "requests": sum(len(v) for v in lat.values()),
               "per_user_round": " -> ".join(api for api, _ in calls) + " (invert_photo: the encoder)"}
        for api, xs in lat.items():
            out[api.strip("/")] = {"p50_ms": round(statistics.median(xs), 1), "p95_ms": round(_percentile(xs, 0.95), 1)}
        return out
    finally:
        server.close()
