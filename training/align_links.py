"""Write a copy of a generator whose W is expressed in a basis aligned with a set of links (`linkgan.links.align_axes`):
every image is unchanged, but each link's axes are the directions of W that change its region most and the rest of
the image least. Fine-tuning from it with those links (`train_gan.py --init <out>`) starts from links that already
move their regions, instead of the first channels of a W that was never told about regions.

    python training/align_links.py --generator checkpoints/toyfaces64-baseline --links links.json \\
        --out runs/exports/baseline-aligned       # links.json: [{"name": "mouth", "axes": [32, 64], ...}, ...]
The discriminator, when the generator folder has one, is copied beside it (so --init fine-tunes with both).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from linkgan.data import VALIDATION_SEEDS
from linkgan.links import align_axes, links_from_specs
from linkgan.networks import Generator
from linkgan.segmenter import Segmenter
from training.script_args import add_device_args, parser, set_threads

# The tuning window of the validation seeds (the trainer's eval and eval_run read other windows)
ALIGN_START = 2000


def main(argv=None) -> int:
    p = parser(__doc__)
    p.add_argument("--generator", required=True, help="weight set: registry name, folder or Hub id")
    p.add_argument("--links", required=True, help="a JSON list of link specs (as link.links takes), or a file holding one")
    p.add_argument("--out", required=True, help="folder of the aligned weight set")
    p.add_argument("--outside-weight", type=float, default=10.0,
                   help="how much a link's change outside its region counts against its change inside")
    p.add_argument("--rounds", type=int, default=0,
                   help="after taking directions link by link, re-choose each link's given all others this many times")
    p.add_argument("--faces", type=int, default=512, help="generated faces the directions are measured on")
    p.add_argument("--seed", type=int, default=0, help="seed of the random projections (the same copy every time)")
    add_device_args(p, threads=None)
    a = p.parse_args(argv)
    set_threads(a)
    device = a.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:        # a JSON list as it is, else a file holding one (a long list is no path to stat)
        text = a.links if a.links.lstrip().startswith("[") else Path(a.links).read_text()
        links = links_from_specs(json.loads(text))
    except (OSError, ValueError) as e:       # JSONDecodeError is a ValueError, as are bad link specs
        p.error(f"--links must be a JSON list of link specs or a file holding one: {e}")
    G = Generator.from_pretrained(a.generator, device=device)
    seg = Segmenter.from_pretrained("toyfaces64-segmenter", device=device) if any(l.semantic for l in links) else None
    seeds = VALIDATION_SEEDS[ALIGN_START:ALIGN_START + a.faces]
    torch.manual_seed(a.seed)
    rotation = align_axes(G, links, seeds=seeds, segmenter=seg.predict if seg else None,
                          outside_weight=a.outside_weight, rounds=a.rounds)
    G.rotate_w(rotation)
    out = Path(a.out)
    meta = {k: v for k, v in getattr(G, "metadata", {}).items() if k != "links"}
    G.save_pretrained(out, extra={**meta, "links": [l.to_spec() for l in links],
                                  "aligned": {"from": str(a.generator), "outside_weight": a.outside_weight,
                                              "rounds": a.rounds, "faces": a.faces,
                                              "seed": a.seed}})
    disc = Path(G.source_folder) / "discriminator"
    if disc.is_dir():
        shutil.copytree(disc, out / "discriminator", dirs_exist_ok=True)
    print(f"wrote {out}: W aligned with links {[l.name for l in links]} (outside weight {a.outside_weight})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
