"""Train a StyleCLIP latent mapper for one prompt: a thin command line over `linkgan.styleclip.train_mapper`.

    python training/train_mapper.py --generator toyfaces64-linked --prompt "a face with blond hair" \\
        --out checkpoints/toyfaces64-linked-styleclip/mappers/blond_hair --steps 2000
    python training/train_mapper.py --generator GEN --zoo blond_hair   # a default-zoo prompt with its settings
    python training/train_mapper.py --prompt "a face with red hair" --region hair --id 20 --out DIR
Writes config.json + model.safetensors (saved atomically every --save-every steps) and train_log.txt into --out
(default with --zoo: the generator's styleclip folder, mappers/NAME).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from training.script_args import add_loop_args, add_model_args, load_models, parser
from linkgan.hub import DEFAULT_SEGMENTER
from linkgan.styleclip import (EDIT_REGIONS, ZOO_MAPPER_GROUPS, ZOO_PROMPTS, MapperTrainConfig, styleclip_folder,
                               train_mapper)

PAPER = MapperTrainConfig()      # the paper's loss weights and groups; --zoo NAME: the zoo's
DEFAULTS = {"l2": PAPER.loss.l2_weight, "id": PAPER.loss.id_weight, "groups": ",".join(PAPER.optim.groups),
            "region": ""}


def main(argv=None) -> int:
    p = parser(__doc__)
    add_model_args(p)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--prompt", help="target text, e.g. 'a face with blond hair'")
    what.add_argument("--zoo", choices=[z.name for z in ZOO_PROMPTS],
                      help="a default-zoo prompt: its text, L2 / id weights and groups (linkgan.styleclip.ZOO_PROMPTS)")
    add_loop_args(p, out="output folder (default with --zoo: <generator's styleclip folder>/mappers/NAME)",
                  steps=PAPER.optim.steps, steps_help="optimiser steps (paper: 50k at batch 2)",
                  batch_size=PAPER.optim.batch_size, batch_help="latents per step", lr=PAPER.optim.lr,
                  lr_help="Adam lr (layers have lr multiplier 0.01; paper 0.5)", seed_help="torch seed of the latents",
                  out_required=False)
    p.add_argument("--psi", type=float, default=PAPER.optim.psi, help="truncation of the sampled training latents")
    p.add_argument("--strength", type=float, default=PAPER.optim.strength, help="ws + strength * M(ws) during training")
    p.add_argument("--l2", type=float, default=None,
                   help=f"weight of the latent L2 term (default: paper {PAPER.loss.l2_weight:g})")
    p.add_argument("--id", type=float, default=None,
                   help=f"weight of the identity term (default: paper {PAPER.loss.id_weight:g})")
    p.add_argument("--region", default=None,
                   help=f"keep the edit inside a region: one of {', '.join(EDIT_REGIONS)} or comma-separated parts "
                        f"(linkgan.data.PART_LABELS); the identity term becomes the pixel change outside it "
                        f"(RegionContent, read by --segmenter) instead of the CLIP-image distance")
    p.add_argument("--segmenter", default=DEFAULT_SEGMENTER, help="part segmenter of --region: name or folder")
    p.add_argument("--groups", default=None, help=f"groups that are on, e.g. coarse,medium (default: "
                                                  f"{DEFAULTS['groups']})")
    p.add_argument("--save-every", type=int, default=PAPER.run.save_every, help="steps between (atomic) saves")
    p.add_argument("--fp16", action="store_true", help="save the weights as float16 (half the file size)")
    a = p.parse_args(argv)
    settings = DEFAULTS
    if a.zoo:
        z = next(z for z in ZOO_PROMPTS if z.name == a.zoo)
        a.prompt = z.target
        settings = {"l2": z.mapper_l2, "id": z.mapper_id, "groups": ",".join(ZOO_MAPPER_GROUPS),
                    "region": z.region}
        a.out = a.out or str(styleclip_folder(a.generator) / "mappers" / z.name)
    for k, v in settings.items():               # flags given on the command line win
        if getattr(a, k) is None:
            setattr(a, k, v)
    if not a.out:
        p.error("--out is required with --prompt")
    G, clip = load_models(a)
    identity = "clip"
    if a.region and a.id > 0:
        from linkgan.segmenter import Segmenter
        from linkgan.styleclip import region_content
        seg = Segmenter.from_pretrained(a.segmenter, device=next(G.parameters()).device).eval().requires_grad_(False)
        try:
            identity = region_content(a.region, seg)
        except ValueError as e:
            p.error(str(e))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = PAPER.replace(steps=a.steps, batch_size=a.batch_size, lr=a.lr, psi=a.psi, strength=a.strength,
                        groups=tuple(g for g in a.groups.split(",") if g), seed=a.seed, l2_weight=a.l2, id_weight=a.id,
                        out=out, save_every=a.save_every, fp16=a.fp16)
    log = open(out / "train_log.txt", "a")
    log.write(json.dumps({"argv": sys.argv[1:] if argv is None else argv}) + "\n")
    resolved = json.dumps({"prompt": a.prompt, "region": a.region or None, **cfg.to_dict()}, default=str)
    print(resolved)
    log.write(resolved + "\n")
    t0 = time.perf_counter()

    def progress(step, steps, rec):
        if step % a.log_every == 0 or step == steps:
            line = (f"step {step:6d}/{steps}  " + "  ".join(f"{k} {v:.4f}" for k, v in rec.items())
                    + f"  elapsed {time.perf_counter() - t0:6.0f} s")
            print(line)
            log.write(line + "\n")
            log.flush()

    train_mapper(G, clip, a.prompt, cfg, identity=identity, progress=progress)
    print(f"saved {out} after {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
