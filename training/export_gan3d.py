"""Export a 3D training run (training/train_gan3d.py) as a weight set with its link metrics over views.

    python training/export_gan3d.py --run runs/h3-linked --name heads3d64-linked --out-dir runs/exports \\
        --command "bash training/recipes/heads3d.sh linked"
    python training/export_gan3d.py --run runs/h3-base --name heads3d64-baseline --links '[{"name": ...}]' ...

Writes <out-dir>/<name>/: config.json + model.safetensors of the EMA generator (its links and the training record in
config.json) and discriminator/ (as training/export_gan.py), samples.png (heads from the left end of the yaw range, the
front and the right end) and metrics.json: per link, linkgan.metrics3d.link_metrics_3d over 5 views (for a baseline,
the regions and axes of --links), the render time of one view and the run's stage record. The 3D model cards come
with the shipped 3D models (docs/3d.md, "Left for the full feature").
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from training.export_gan import stage_record
from training.script_args import parser
from linkgan.data import HELDOUT_SEEDS
from linkgan.links import links_from_specs
from linkgan.metrics3d import link_metrics_3d, metric_views, render_ms
from linkgan.segmenter import Segmenter
from linkgan.train import config_from_dict
from linkgan.train3d import TrainConfig3D, Trainer3D


def main(argv=None) -> int:
    p = parser(__doc__)
    p.add_argument("--run", required=True, help="3D run folder with checkpoint.pt and config.json")
    p.add_argument("--name", required=True, help="weight set name: writes <out-dir>/<name>")
    p.add_argument("--command", required=True, help="the command that re-creates the model")
    p.add_argument("--links", default=None, help="for a generator without links: measure these links (JSON specs, "
                                                 "as link.links of the linked run)")
    p.add_argument("--segmenter", default=None, help="part segmenter of the metrics (default: the run's)")
    p.add_argument("--eval-seeds", type=int, default=200, help="held-out faces the metrics average over")
    p.add_argument("--views", type=int, default=5, help="views the metrics average over (linkgan.metrics3d)")
    p.add_argument("--out-dir", default="checkpoints")
    a = p.parse_args(argv)
    run = Path(a.run)
    cfg = config_from_dict(json.loads((run / "config.json").read_text()), TrainConfig3D)
    cfg.run.init = ""                                   # the checkpoint holds everything
    specs = cfg.link.links or (json.loads(a.links) if a.links else [])
    seg = Segmenter.from_pretrained(a.segmenter or cfg.run.segmenter).eval().predict if specs else None
    trainer = Trainer3D(cfg, device="cpu", segmenter=seg, log=lambda s: None)
    trainer.load_checkpoint(run / "checkpoint.pt")
    folder = Path(a.out_dir) / a.name
    trainer.export(folder, command=a.command)
    trainer.out = folder
    shutil.move(trainer.save_samples(), folder / "samples.png")

    G = trainer.G_ema
    seeds = range(HELDOUT_SEEDS.start, HELDOUT_SEEDS.start + a.eval_seeds)
    views = metric_views(G.config.camera_range, a.views)
    links = links_from_specs(specs)
    metrics = link_metrics_3d(G, links, seeds=seeds, views=views, segmenter=seg) if links else {}
    ms = render_ms(G, views=metric_views(G.config.camera_range, 9), runs=3)
    summary = {"name": a.name, "stages": [{**stage_record(run), "steps": trainer.step,
                                           "wall_min": round(trainer.wall_s / 60, 1)}],
               "views": [list(v) for v in views], "eval_seeds": a.eval_seeds, "links": metrics,
               "render_ms_per_view": round(ms, 2)}
    (folder / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
