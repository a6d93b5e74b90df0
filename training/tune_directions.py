"""Tunes alpha / beta of the global-direction edit (StyleCLIP Sec. 6) for each prompt of the default zoo: a grid over
alpha and the number of channels moved and two neutral texts (the generic one, and the alternatives describing the
prompt's attribute, from which CLIP picks one per face), each cell scored by the attribute oracle on tuning seeds that
the benchmark never uses; the best cell meeting success >= 0.8 and preservation >= 0.9 is kept (the best success x
preservation when none does). Writes <generator's styleclip folder>/global_prompts.json, which the benchmark
and `linkgan.styleclip.load_global_settings` read.

    python training/tune_directions.py --generator toyfaces64-linked
    python training/tune_directions.py --check --first-seed 8100000 --seeds 100   # score the saved settings
"""
from __future__ import annotations

import json
import os
import time
from functools import partial
from pathlib import Path


import torch
from tqdm import tqdm

from training.script_args import add_model_args, command_line, load_models, parser
from linkgan.oracle import AttributeOracle, edit_score
from linkgan.styleclip import (MAX_ALPHA, PROMPTS_FILE, ZOO_PROMPTS, described_neutral, global_edit,
                               load_directions, load_global_settings, passes, seed_ws, styleclip_folder, tune_global)

SEED0 = 8_000_000          # tuning faces: the benchmark's are 7_000_000.. (benchmarks/styleclip.py)


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


GRID_KEYS = ("neutral", "alpha", "channels", "num_channels", "beta", "success", "preservation", "eligible")


def compact_grid(grid: list[dict], neutrals: list[str]) -> dict:
    """{"neutrals", "grid"}: every cell with GRID_KEYS only, its neutral text an index into neutrals."""
    return {"neutrals": list(neutrals),
            "grid": [{k: neutrals.index(c[k]) if k == "neutral" else c.get(k) for k in GRID_KEYS} for c in grid]}


def settings_json(settings: dict) -> str:
    """The settings as indented JSON, each grid cell on one line (thousands of cells)."""
    grids = {name: p["grid"] for name, p in settings["prompts"].items()}
    marked = {**settings, "prompts": {name: {**p, "grid": f"@grid:{name}@"} for name, p in settings["prompts"].items()}}
    text = json.dumps(marked, indent=1)
    for name, grid in grids.items():
        rows = ",\n".join(json.dumps(cell) for cell in grid)
        text = text.replace(json.dumps(f"@grid:{name}@"), f"[\n{rows}\n  ]")
    return text + "\n"


@torch.no_grad()
def check(G, dirs, clip, oracle, ws: torch.Tensor, settings: dict, zoo: dict, a) -> int:
    """Prints, as JSON, the oracle score of the saved settings of each zoo prompt in zoo ({name: ZooPrompt}) on the
    faces ws."""
    report = {"seeds": f"{a.first_seed}..+{a.seeds}", "psi": a.psi, "prompts": {}}
    before = G.synthesize(ws, noise_mode="const")
    for name, z in zoo.items():
        p = settings["prompts"].get(name)
        if p is None:
            report["prompts"][name] = "not in the saved settings"
            continue
        after = global_edit(G, dirs, clip, ws, p["target"], p["alpha"], p["beta"], p.get("channels"),
                            neutral=p.get("neutral", settings.get("neutral", "a face")))
        report["prompts"][name] = edit_score(oracle, before, after, z.attribute, z.value)
    ok = [n for n, r in report["prompts"].items() if isinstance(r, dict) and passes(r)]
    report["passing"] = f"{len(ok)}/{len(zoo)}: {', '.join(ok)}"
    print(json.dumps(report, indent=1))
    return 0


def main(argv=None) -> int:
    p = parser(__doc__)
    add_model_args(p)
    p.add_argument("--directions", default=None, help="global_directions.safetensors (default: the generator's)")
    p.add_argument("--oracle", default="toyfaces64-oracle", help="the judge: attribute oracle name or folder")
    p.add_argument("--out", default=None, help=f"output JSON (default: {PROMPTS_FILE} in the generator's styleclip "
                                                 f"folder)")
    p.add_argument("--seeds", type=int, default=60, help="how many faces (seeds --first-seed..)")
    p.add_argument("--first-seed", type=int, default=SEED0, help=f"the first face's seed (default {SEED0}; the "
                                                                   f"benchmark's are 7000000..)")
    p.add_argument("--check", action="store_true",
                   help="tune nothing: score the saved settings (--out, default the generator's) on the faces and "
                        "print them as JSON")
    p.add_argument("--psi", type=float, default=0.7, help="truncation of the tuning faces (the benchmark's)")
    p.add_argument("--neutral", default="a face", help="the generic neutral text")
    p.add_argument("--no-described", action="store_true",
                   help="try only --neutral, not also the alternatives that describe the prompt's attribute")
    p.add_argument("--alphas", default="2,3,4,5,6,8,10,12,16,20", help="comma-separated alphas to try")
    p.add_argument("--channels", default="2,3,5,10,15,20,30,40,60,80",
                   help="comma-separated numbers of channels to move")
    p.add_argument("--prompts", default=",".join(z.name for z in ZOO_PROMPTS), help="comma-separated zoo prompts")
    a = p.parse_args(argv)
    known = {z.name: z for z in ZOO_PROMPTS}
    names = [n for n in a.prompts.split(",") if n]
    unknown = [n for n in names if n not in known]
    alphas, channels = floats(a.alphas), [int(c) for c in floats(a.channels)]
    if unknown or not names or not alphas or not channels or a.seeds < 1:
        p.error(f"need zoo prompts ({', '.join(known)}; unknown: {unknown}), alphas, channels and --seeds >= 1")
    if max(abs(v) for v in alphas) > MAX_ALPHA:
        p.error(f"--alphas must lie within +-{MAX_ALPHA:g}, the app's alpha slider (linkgan.styleclip.MAX_ALPHA)")
    G, clip = load_models(a)
    device = next(G.parameters()).device
    dirs = load_directions(a.generator, a.directions)
    oracle = AttributeOracle.from_pretrained(a.oracle, device=device).eval()
    out = Path(a.out) if a.out else styleclip_folder(a.generator) / PROMPTS_FILE
    t0 = time.perf_counter()
    with torch.no_grad():
        ws = torch.cat([seed_ws(G, a.first_seed + i, a.psi) for i in range(a.seeds)])
    if a.check:
        return check(G, dirs, clip, oracle, ws, load_global_settings(a.generator, out), {n: known[n] for n in names}, a)
    modes = 1 if a.no_described else 2
    bar = tqdm(total=len(names) * modes * len(alphas) * len(channels), desc="neutral x alpha x channels")
    prompts = {}
    for name in names:
        z = known[name]
        neutrals = [a.neutral] + ([] if a.no_described else [described_neutral(z.attribute)])
        res = tune_global(G, dirs, clip, ws, z.target, partial(edit_score, oracle, attribute=z.attribute,
                                                               value=z.value),
                          alphas=alphas, channels=channels, neutrals=neutrals, progress=lambda: bar.update())
        best = res["best"]
        prompts[name] = {"target": z.target, "attribute": z.attribute, "value": z.value, "neutral": best["neutral"],
                         "alpha": best["alpha"], "beta": best["beta"], "channels": best["channels"],
                         "success": best["success"], "preservation": best["preservation"],
                         **compact_grid(res["grid"], neutrals)}
        tqdm.write(f"{name}: neutral {best['neutral'][:40]!r}, alpha {best['alpha']:g}, {best['channels']} channels "
                   f"(beta {best['beta']:.4f}): success {best['success']} / preservation {best['preservation']} on "
                   f"the tuning faces")
    bar.close()
    settings = {"generator": str(a.generator), "clip": str(a.clip), "judge": str(a.oracle), "neutral": a.neutral,
                "seeds": f"{a.first_seed}..+{a.seeds}", "psi": a.psi, "alphas": alphas, "channels": channels,
                "wall_s": round(time.perf_counter() - t0, 1), "command": command_line(__file__, argv),
                "prompts": prompts}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(settings_json(settings))
    os.replace(tmp, out)
    print(f"saved {out} ({settings['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
