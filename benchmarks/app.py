"""The app on loopback through gradio_client: startup time of `python app.py` on the embedded default; one user's
latency per API (p50 / p95) beside a trivial endpoint's in the same run (/random_seed: Gradio's queue round trip, the
floor any request pays); and 10 users at once, each its own session, all starting from the same seed (a public Space's
default): requests per second, latency and failed requests."""
from __future__ import annotations

import concurrent.futures as cf
import statistics
import time

MAPPER_PROMPT = "a face with purple hair"        # a shipped mapper of the default zoo
GLOBAL_TARGET = "a face with blond hair"
TRIVIAL = "/random_seed"
# one user's round of edits: (API, arguments from the user's number i and the round r)
EDITS = [("/generate", lambda i, r: (3, 0.7)), ("/region", lambda i, r: (["eyes"], 7 + r + 100 * i, 1.0)),
         ("/text_mapper", lambda i, r: (MAPPER_PROMPT, 0.1)),
         ("/text_global", lambda i, r: (GLOBAL_TARGET, "a face", 5.0, 0.5, 10)), ("/undo", lambda i, r: ())]


def _percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def _summary(xs: list[float]) -> dict:
    return {"p50_ms": round(statistics.median(xs), 1), "p95_ms": round(_percentile(xs, 0.95), 1)}


def _timed(c, api: str, args: tuple) -> float:
    t0 = time.perf_counter()
    c.predict(*args, api_name=api)
    return (time.perf_counter() - t0) * 1000


def single_user(server, rounds: int, photo) -> dict:
    """p50 / p95 per API of one user, the trivial endpoint's interleaved with the edits (same load, same moment)."""
    from gradio_client import handle_file

    c = server.client()
    for api, make in EDITS:                       # warm up: the CLIP, the directions and the mapper load once
        c.predict(*make(0, 0), api_name=api)
    lat: dict[str, list[float]] = {TRIVIAL: [], **{api: [] for api, _ in EDITS}}
    for r in range(rounds):
        for api, make in [(TRIVIAL, lambda i, r: ()), *EDITS]:
            lat[api].append(_timed(c, api, make(0, r)))
    photo = handle_file(str(photo))
    photo_ms = [_timed(c, "/invert_photo", (photo, "encoder", 10)) for _ in range(max(3, rounds // 5))]
    out = {api.strip("/"): _summary(xs) for api, xs in lat.items()}
    out["invert_photo (encoder)"] = _summary(photo_ms)
    floor = out[TRIVIAL.strip("/")]["p50_ms"]
    out["edit_p50_over_trivial_p50"] = {api.strip("/"): round(out[api.strip("/")]["p50_ms"] / floor, 2)
                                        for api, _ in EDITS}
    return out


def many_users(server, users: int, rounds: int) -> dict:
    """users clients at once, each doing `rounds` rounds of EDITS; every failed request is counted, not raised."""
    lat: list[float] = []
    failed: list[str] = []

    def user(i: int) -> None:
        c = server.client()
        for r in range(rounds):
            for api, make in EDITS:
                try:
                    lat.append(_timed(c, api, make(i, r)))
                except Exception as e:  # noqa: BLE001 - a failed request is a result: counted and reported
                    failed.append(f"{api}: {type(e).__name__}: {str(e)[:100]}")

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(users) as pool:
        list(pool.map(user, range(users)))
    wall = time.perf_counter() - t0
    return {"clients": users, "requests": len(lat) + len(failed), "failed": len(failed),
            "requests_per_s": round(len(lat) / wall, 2), **_summary(lat), "first_failures": failed[:3]}


def run(*, quick: bool = False) -> dict:
    import tempfile
    from pathlib import Path

    from PIL import Image

    from linkgan.data import HELDOUT_SEEDS, toy_face
    from linkgan.hub import DEFAULT_GENERATOR

    from .app_server import AppServer

    folder = Path(tempfile.mkdtemp())
    photo = folder / "face.png"
    Image.fromarray(toy_face(HELDOUT_SEEDS.start, size=256).image).save(photo)
    server = AppServer(DEFAULT_GENERATOR)
    try:
        out = {"startup_s": round(server.startup_s, 2),
               "user_round": " -> ".join(api for api, _ in EDITS) + " (every user on seed 3)"}
        out["single_user"] = single_user(server, 5 if quick else 30, photo)
        out["10_users" if not quick else "4_users"] = many_users(server, 4 if quick else 10, 2 if quick else 6)
        return out
    finally:
        server.close()
