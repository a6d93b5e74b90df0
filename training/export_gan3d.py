"""Export a 3D training run (training/train_gan3d.py) as a weight set with its link metrics over views.

    python training/export_gan3d.py --run runs/h3-linked --name heads3d64-linked --out-dir runs/exports \\
        --command "bash training/recipes/heads3d.sh linked"
    python training/export_gan3d.py --run runs/h3-base --name heads3d64-baseline --links '[{"name": ...}]' ...

Writes <out-dir>/<name>/: config.json + model.safetensors of the EMA generator (its links and the training record in
config.json) and discriminator/ (as training/export_gan.py), samples.png (heads from the left end of the yaw range, the
front and the right end), metrics.json (per link, linkgan.metrics3d.link_metrics_3d over 5 views, for a baseline on
the regions and axes of --links; the Fréchet distance to procedural heads in the segmenter's features; the render
time of one view; the run's stage record) and README.md, the model card that says all of it.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from linkgan.cards import front_matter
from training.export_gan import (WEIGHTS_DTYPES, add_weights_dtype, optimisation_text, stage_record,
                                 stages_text)
from training.script_args import parser
from linkgan.data import HELDOUT_SEEDS
from linkgan.links import links_from_specs
from linkgan.metrics3d import frechet_distance_3d, link_metrics_3d, metric_views, render_ms
from linkgan.segmenter import Segmenter
from linkgan.train import config_from_dict
from linkgan.networks3d import TriplaneGenerator
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
    p.add_argument("--fd-images", type=int, default=1000, help="samples and procedural heads of the Fréchet distance")
    p.add_argument("--out-dir", default="checkpoints")
    add_weights_dtype(p)
    a = p.parse_args(argv)
    run = Path(a.run)
    cfg = config_from_dict(json.loads((run / "config.json").read_text()), TrainConfig3D)
    cfg.run.init = ""                                   # the checkpoint holds everything
    specs = cfg.link.links or (json.loads(a.links) if a.links else [])
    seg_net = Segmenter.from_pretrained(a.segmenter or cfg.run.segmenter).eval()
    seg = seg_net.predict if specs else None
    trainer = Trainer3D(cfg, device="cpu", segmenter=seg, log=lambda s: None)
    trainer.load_checkpoint(run / "checkpoint.pt")
    folder = Path(a.out_dir) / a.name
    trainer.export(folder, command=a.command, dtype=WEIGHTS_DTYPES[a.weights_dtype])
    # from here on the generator is the one stored (float16 weights round), so that every metric is the shipped model's
    trainer.G_ema.load_state_dict(TriplaneGenerator.from_pretrained(folder).state_dict())
    trainer.out = folder
    shutil.move(trainer.save_samples(), folder / "samples.png")

    G = trainer.G_ema
    seeds = range(HELDOUT_SEEDS.start, HELDOUT_SEEDS.start + a.eval_seeds)
    views = metric_views(G.config.camera_range, a.views)
    links = links_from_specs(specs)
    metrics = link_metrics_3d(G, links, seeds=seeds, views=views, segmenter=seg) if links else {}
    ms = render_ms(G, views=metric_views(G.config.camera_range, 9), runs=3)
    fd = frechet_distance_3d({"G": G}, seg_net, seeds=range(a.fd_images),
                             real_seeds=HELDOUT_SEEDS[:a.fd_images])["G"]
    summary = {"name": a.name, "stages": [{**stage_record(run), "steps": trainer.step,
                                           "wall_min": round(trainer.wall_s / 60, 1)}],
               "views": [list(v) for v in views], "eval_seeds": a.eval_seeds, "links": metrics,
               "fd": fd, "fd_images": a.fd_images, "segmenter": Path(a.segmenter or cfg.run.segmenter).name,
               "render_ms_per_view": round(ms, 2)}
    (folder / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    (folder / "README.md").write_text(card(a.name, a.command, cfg, G, summary, linked=bool(cfg.link.links)))
    print(json.dumps(summary, indent=2))
    return 0


def card(name: str, command: str, cfg, G, summary: dict, *, linked: bool) -> str:
    """The model card of an exported 3D generator: what it is, the command and stages that made it, its metrics."""
    g, r = G.config, G.config.camera_range
    params = sum(p.numel() for p in G.parameters())
    rows = "\n".join(f"| {k} | {v['mse_in']:.2f} | {v['mse_out']:.2f} | {v['ratio']:.3f} | {v['leak_in']:.2f} | "
                     f"{v['depth_in']:.2f} | {v['depth_out']:.2f} | {v['depth_ratio']:.3f} |"
                     for k, v in summary["links"].items())
    views = ", ".join(f"({y:+g}, {p:+g})" for y, p in summary["views"])
    link_text = f"""
Link metrics over {len(summary["views"])} views (yaw, pitch in degrees: {views}), {summary["eval_seeds"]} held-out seeds,
untruncated; each face's linked axes resampled towards those of seed + 10^9, the regions from the part segmenter in
each view. mse_in / mse_out: change inside / outside the region (x1e-3 on [-1, 1] images, means over the views);
leak_in: change inside when the other axes are resampled; depth_in / depth_out: mean change of the expected depth
inside the region and on the head outside it (x1e-3 world units).{"" if linked else " This generator has no links: these are the linked model's axes and regions measured here, for comparison."}

| link | mse_in | mse_out | mse_out / mse_in | leak_in | depth_in | depth_out | depth_out / depth_in |
| --- | --- | --- | --- | --- | --- | --- | --- |
{rows}
""" if summary["links"] else ""
    return front_matter("generator", tags=["eg3d", "tri-plane", "3d-aware"] + (["region-editing"] if linked else [])
                        ) + f"""# {name}

A 3D-aware tri-plane generator after EG3D ({params:,} parameters, w_dim {g.w_dim}) trained on procedural 3D toy heads
{"with LinkGAN links: resampling a link's axes of W changes only its part, in every view" if linked else
"without links (the baseline of the linked generator)"}. Three {g.plane_resolution} x {g.plane_resolution} feature
planes of {g.plane_channels} channels, volume rendering at {g.neural_resolution} x {g.neural_resolution}
({g.n_coarse} + {g.n_importance} samples per ray) and super-resolution to {g.resolution} px, for cameras within
yaw +-{r.yaw_deg:g} and pitch +-{r.pitch_deg:g} degrees.

## Re-create

```
{command}
```

{stages_text(summary["stages"])}
The last stage's settings:
{optimisation_text(cfg.optim)}
- links: `{json.dumps(cfg.link.links)}`; lambda_in {cfg.link.lambda_in}, lambda_out {cfg.link.lambda_out}

## Metrics
{link_text}
Fréchet distance to {summary["fd_images"]} held-out procedural heads, {summary["fd_images"]} samples (psi 1, each from
its own camera), in the features of `{summary["segmenter"]}`: **{summary["fd"]:.3f}**.

Render time of one view on the exporting machine (median over 9 views): {summary["render_ms_per_view"]:.1f} ms.

`samples.png`: heads from the left end of the yaw range, the front and the right end.
"""


if __name__ == "__main__":
    raise SystemExit(main())
