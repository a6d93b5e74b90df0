"""Tunes alpha / beta of the global-direction edit (StyleCLIP Sec. 6) for each prompt of the default zoo: a grid over
alpha and the number of channels moved, each cell scored by the attribute oracle (success x preservation) on tuning
seeds that the benchmark never uses. Writes <generator's styleclip folder>/global_prompts.json, which the benchmark
and `linkgan.styleclip.load_global_settings` read.

    python training/tune_directions.py --generator toyfaces64-linked
"""
from __future__ import annotations

import json
import os
import sys
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

from script_args import add_model_args, command_line, load_models, parser  # noqa: E402
from linkgan.oracle import AttributeOracle, edit_score  # noqa: E402
from linkgan.studio import MAX_ALPHA  # noqa: E402
from linkgan.styleclip import (PROMPTS_FILE, ZOO_PROMPTS, load_directions, seed_ws, styleclip_folder,  # noqa: E402
                               tune_global)

SEED0 = 8_000_000          # tuning faces: the benchmark's are 7_000_000.. (benchmarks/styleclip.py)


def floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v.strip()]


def main(argv=None) -> int:
    p = parser(__doc__)
    add_model_args(p)
    p.add_argument("--directions", default=None, help="global_directions.safetensors (default: the generator's)")
    p.add_argument("--oracle", default="toyfaces64-oracle", help="the judge: attribute oracle name or folder")
    p.add_argument("--out", default=None, help=f"output JSON (default: {PROMPTS_FILE} in the generator's styleclip "
                                                 f"folder)")
    p.add_argument("--seeds", type=int, default=60, help=f"tuning faces (seeds {SEED0}..)")
    p.add_argument("--psi", type=float, default=0.7, help="truncation of the tuning faces (the benchmark's)")
    p.add_argument("--neutral", default="a face", help="neutral text of every edit")
    p.add_argument("--alphas", default="2,3,5,8,12,20", help="comma-separated alphas to try")
    p.add_argument("--channels", default="2,3,5,10,20,40,80", help="comma-separated numbers of channels to move")
    p.add_argument("--prompts", default=",".join(z.name for z in ZOO_PROMPTS), help="comma-separated zoo prompts")
    a = p.parse_args(argv)
    known = {z.name: z for z in ZOO_PROMPTS}
    names = [n for n in a.prompts.split(",") if n]
    unknown = [n for n in names if n not in known]
    alphas, channels = floats(a.alphas), [int(c) for c in floats(a.channels)]
    if unknown or not names or not alphas or not channels or a.seeds < 1:
        p.error(f"need zoo prompts ({', '.join(known)}; unknown: {unknown}), alphas, channels and --seeds >= 1")
    if max(abs(v) for v in alphas) > MAX_ALPHA:
        p.error(f"--alphas must lie within +-{MAX_ALPHA:g}, the app's alpha slider (linkgan.studio.MAX_ALPHA)")
    G, clip = load_models(a)
    device = next(G.parameters()).device
    dirs = load_directions(a.generator, a.directions)
    oracle = AttributeOracle.from_pretrained(a.oracle, device=device).eval()
    out = Path(a.out) if a.out else styleclip_folder(a.generator) / PROMPTS_FILE
    t0 = time.perf_counter()
    with torch.no_grad():
        ws = torch.cat([seed_ws(G, SEED0 + i, a.psi) for i in range(a.seeds)])
    bar = tqdm(total=len(names) * len(alphas) * len(channels), desc="alpha x channels")
    prompts = {}
    for name in names:
        z = known[name]
        res = tune_global(G, dirs, clip, ws, z.target, partial(edit_score, oracle, attribute=z.attribute,
                                                               value=z.value),
                          alphas=alphas, channels=channels, neutral=a.neutral, progress=lambda: bar.update())
        best = res["best"]
        prompts[name] = {"target": z.target, "attribute": z.attribute, "value": z.value, "alpha": best["alpha"],
                         "beta": best["beta"], "channels": best["num_channels"], "success": best["success"],
                         "preservation": best["preservation"], "grid": res["grid"]}
        tqdm.write(f"{name}: alpha {best['alpha']:g}, {best['num_channels']} channels (beta {best['beta']:.4f}): "
                   f"success {best['success']} / preservation {best['preservation']} on the tuning faces")
    bar.close()
    settings = {"generator": str(a.generator), "clip": str(a.clip), "judge": str(a.oracle), "neutral": a.neutral,
                "seeds": f"{SEED0}..+{a.seeds}", "psi": a.psi, "alphas": alphas, "channels": channels,
                "wall_s": round(time.perf_counter() - t0, 1), "command": command_line(__file__, argv),
                "prompts": prompts}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(settings, indent=1) + "\n")
    os.replace(tmp, out)
    print(f"saved {out} ({settings['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
