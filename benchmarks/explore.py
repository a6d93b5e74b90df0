"""An Explore slider move as the app computes it (linkgan.studio.Explore): the edit of the session (a direction's
move in W+ or in S) plus the render of the result, on the default generator at its own resolution, one torch thread
(as the app serves each request), median over moves at changing strengths. Beside it the render alone, so what the
edit itself adds shows. The HTTP round trip is the `app` section's."""
from __future__ import annotations

import itertools

import torch

from ._timing import median_ms

MOVES = (0.5, 1.0, 1.5, 2.0, -1.0, -2.0)      # strengths a user slides through (standard deviations)


def run(*, quick: bool = False) -> dict:
    from linkgan.hub import DEFAULT_GENERATOR
    from linkgan.studio import Studio

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        studio = Studio.load(DEFAULT_GENERATOR, clip=None)
        start = studio.generate(3, 0.7)
        runs = 10 if quick else 60
        out: dict = {"generator": DEFAULT_GENERATOR, "threads": 1,
                     "render_ms": round(median_ms(lambda: studio.render(*studio.code(start)), runs=runs), 2)}
        for method, why_not in studio.explore_methods().items():
            if why_not is not None:
                out[method] = {"skipped": why_not}
                continue
            strengths = itertools.cycle(MOVES)

            def move():
                session = studio.explore(start, method, 0, next(strengths))
                return studio.render(*studio.code(session))
            out[method] = {"slider_move_ms": round(median_ms(move, runs=runs, warmup=2), 2)}
        return out
    finally:
        torch.set_num_threads(threads)
