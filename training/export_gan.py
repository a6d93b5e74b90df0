"""Export a training run's EMA generator as a shippable weight set with its model card.

    python training/export_gan.py --run runs/linked64 --name toyfaces64-linked \\
        --command "python training/train_gan.py --out runs/linked64 ..."

Writes checkpoints/<name>/: config.json + model.safetensors (the run's links and training record in
config.json), README.md (the card: Hub metadata, how to re-create it, steps, wall time, hardware, metrics), samples.png
(32 untruncated samples) and, for a linked generator, resample.png (each link resampled, t = 0 .. 1).
Metrics: LinkGAN editing precision and leakage per link (or, for a generator without links, the same
measures on the links named by --links-of), the Fréchet distance to procedural faces, and the attribute
coverage (which classes of each attribute the samples draw too rarely, read by the attribute oracle).

A model trained in stages (from scratch, then fine-tuned with `--init`) names the earlier run folders with
`--earlier` (oldest first): the card then counts every stage's steps, wall time and hardware. An earlier stage may
also be an exported weight set (its metrics.json lists its own stages), e.g. the shipped model a run continued:
that one is the card's base model.
When the last stage's checkpoint.pt stayed on another machine, `--weights` names the weight set exported there.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


import torch

from linkgan.cards import front_matter
from linkgan.control import label_disagreement, region_control
from linkgan.data import HELDOUT_SEEDS
from linkgan.links import generator_links, link_metrics, links_from_specs, resample_strip
from linkgan.networks import Generator
from linkgan.oracle import AttributeOracle, attribute_frequencies, coverage_gap
from linkgan.quality import (FEATURE_SPACE, frechet_distance, generated_images, procedural_images,
                             segmenter_features)
from linkgan.segmenter import Segmenter
from linkgan.train import Trainer, config_from_dict
from linkgan.utils import make_grid


def stage_record(run: Path) -> dict:
    """Steps, wall time and hardware of one run folder, from its log.jsonl (the last training record)."""
    log = run / "log.jsonl"
    if not log.is_file():
        raise FileNotFoundError(f"{log} not found: every stage needs its run log")
    step, wall, hardware = 0, 0.0, []
    for line in log.read_text().splitlines():
        rec = json.loads(line) if line.strip() else {}
        step = max(step, int(rec.get("step", 0)))
        wall = float(rec.get("wall_min", wall))
        if rec.get("hardware"):
            hw = f"{rec['hardware']} x {rec.get('processes', 1)} process(es)"
            if hw not in hardware:
                hardware.append(hw)
    cfg = json.loads((run / "config.json").read_text())
    return {"run": run.name, "steps": step, "wall_min": round(wall, 1), "hardware": hardware,
            "batch_size": cfg["optim"]["batch_size"], "init": Path(cfg["run"].get("init") or "").name,
            "lambda_in": cfg["link"]["lambda_in"] if cfg["link"]["links"] else None,
            "lambda_out": cfg["link"]["lambda_out"] if cfg["link"]["links"] else None}


def stages_text(stages: list[dict]) -> str:
    """The card's account of a model's training: total steps, images, wall time and hardware, then a row per stage."""
    steps, wall = sum(st["steps"] for st in stages), sum(st["wall_min"] for st in stages)
    hardware = list(dict.fromkeys(h for st in stages for h in st["hardware"])) or ["unrecorded hardware"]
    rows = "\n".join(
        f"| {i + 1} | {st['init'] or 'from scratch'} | {st['steps']} | {st['batch_size']} | "
        f"{'-' if st['lambda_in'] is None else st['lambda_in']} / {'-' if st['lambda_out'] is None else st['lambda_out']} | "
        f"{st['wall_min']:.1f} | {'; '.join(st['hardware'])} |" for i, st in enumerate(stages))
    images = sum(st["steps"] * st["batch_size"] for st in stages) / 1000
    return f"""- steps: {steps} in {len(stages)} stage(s) ({images:.0f}k images); wall time
  {wall:.0f} min of training on {" and ".join(hardware)}

| stage | starts from | steps | batch | lambda_in / lambda_out | wall min | hardware |
| --- | --- | --- | --- | --- | --- | --- |
{rows}
"""


def optimisation_text(o) -> str:
    """The card's line on a run's optimiser settings (OptimConfig)."""
    return (f"- optimisation: Adam lr {o.lr}, betas {tuple(o.betas)}, R1 gamma {o.r1_gamma} every\n"
            f"  {o.r1_every}, style mixing {o.mixing_prob}, EMA half-life {o.ema_kimg} kimg")


WEIGHTS_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def add_weights_dtype(p: argparse.ArgumentParser) -> None:
    """--weights-dtype of the exports (a key of WEIGHTS_DTYPES)."""
    p.add_argument("--weights-dtype", choices=WEIGHTS_DTYPES, default="float32",
                   help="what the generator's parameters are stored in; float16 halves the file, and every metric "
                        "is measured on the stored weights")


def is_weight_set(path: Path) -> bool:
    """An exported weight set (no run log, a metrics.json), as opposed to a run folder."""
    return not (path / "log.jsonl").is_file() and (path / "metrics.json").is_file()


def base_model(earlier: list[str], shipped: Path) -> str | None:
    """The shipped weight set a run is fine-tuned from, by name: the last of its --earlier stages that is a weight
    set in `shipped` (--out-dir). None: trained from scratch, or only from runs and stage exports of its own."""
    names = [Path(r).resolve().name for r in earlier
             if is_weight_set(Path(r)) and Path(r).resolve().parent == shipped.resolve()]
    return names[-1] if names else None


def stage_records(path: Path) -> list[dict]:
    """The stages of an --earlier folder: a run folder is one stage; an exported weight set brings every stage it
    was trained in."""
    metrics = path / "metrics.json"
    if is_weight_set(path):
        stages = json.loads(metrics.read_text()).get("stages")
        if not stages:
            raise ValueError(f"{metrics} lists no training stages")
        return stages
    return [stage_record(path)]


def load_run(run: Path, device: str = "cpu") -> Trainer:
    """The trainer of a run folder as its checkpoint left it (its config.json, then checkpoint.pt)."""
    cfg = config_from_dict(json.loads((run / "config.json").read_text()))
    cfg.run.init = ""                                   # the checkpoint holds everything
    trainer = Trainer(cfg, device=device, log=lambda s: None)
    trainer.load_checkpoint(run / "checkpoint.pt")
    return trainer


def measure(G, links, *, seeds, fd_seeds, device, baseline: str | None = None) -> dict:
    """Everything a generator's card reports, on the faces of `seeds` (link metrics, region control) and
    `fd_seeds` (as many samples as procedural faces: Fréchet distance, attribute coverage, the segmenter's and the
    oracle's disagreement on which parts are drawn): {"links", "control", "fd", "coverage", "label_disagreement"}.
    With `baseline` (a weight set), each link's mse_in is also given against the baseline's."""
    seg = Segmenter.from_pretrained("toyfaces64-segmenter", device=device)
    metrics = link_metrics(G, links, seeds=seeds, segmenter=seg.predict) if links else {}
    procedural = procedural_images(fd_seeds, G.config.resolution)
    samples = generated_images(G, len(procedural))
    fd = frechet_distance(segmenter_features(seg, samples), segmenter_features(seg, procedural))
    oracle = AttributeOracle.from_pretrained("toyfaces64-oracle", device=device).eval()
    faces = {"samples": samples, "procedural": procedural}
    reads = {k: oracle.predict(v) for k, v in faces.items()}            # read once: coverage and agreement
    coverage = coverage_gap(*(attribute_frequencies(oracle, v, reads=reads[k]) for k, v in faces.items()))
    control = region_control(G, links, oracle, seeds=seeds)
    agreement = {k: label_disagreement(v, seg, oracle, reads=reads[k]) for k, v in faces.items()}
    if control and baseline:
        base = Generator.from_pretrained(baseline, device=device)
        base_in = {k: v["mse_in"] for k, v in link_metrics(base, links, seeds=seeds, segmenter=seg.predict).items()}
        for k, v in metrics.items():
            if k in base_in:
                v["mse_in_vs_baseline"] = round(v["mse_in"] / max(base_in[k], 1e-12), 3)
    return {"links": metrics, "control": control, "fd": fd, "coverage": coverage, "label_disagreement": agreement}


@torch.no_grad()
def save_sheets(G, links, folder: Path, prefix: str = "") -> None:
    """<prefix>samples.png (seeds 0-31, untruncated) and, for links, <prefix>resample.png (per link two faces with
    the link's axes moved towards another face's, t = 0 .. 1), drawn on the CPU as users will draw them."""
    G = G.cpu()
    make_grid(generated_images(G, 32), cols=8).save(folder / f"{prefix}samples.png")
    if links:
        rows = [resample_strip(G, [l], seed=s, new_seed=s + 1000, ts=[0, 0.25, 0.5, 0.75, 1.0])
                for l in links for s in (1, 2)]
        make_grid(torch.cat(rows), cols=5).save(folder / f"{prefix}resample.png")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", required=True, help="run folder with checkpoint.pt and config.json")
    p.add_argument("--name", required=True, help="weight set name: writes checkpoints/<name>")
    p.add_argument("--command", required=True, action="append",
                   help="a command that re-creates the model (repeat for each stage, in order), for the card")
    p.add_argument("--earlier", action="append", default=[],
                   help="an earlier stage's run folder or exported weight set (repeat, oldest first)")
    p.add_argument("--weights", default=None, help="the run's exported weight set, when its checkpoint.pt is elsewhere")
    p.add_argument("--links-of", default=None, help="for a generator without links: measure the axes and "
                                                     "regions of these links (a run folder or a linked weight set)")
    p.add_argument("--baseline", default=None, help="for a linked generator: the baseline weight set its mse_in is "
                                                    "compared with (mse_in_vs_baseline)")
    p.add_argument("--eval-seeds", type=int, default=300)
    p.add_argument("--fd-images", type=int, default=2000)
    p.add_argument("--out-dir", default="checkpoints")
    add_weights_dtype(p)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="where to measure")
    a = p.parse_args(argv)
    run = Path(a.run)
    cfg = config_from_dict(json.loads((run / "config.json").read_text()))
    stages = [st for r in a.earlier for st in stage_records(Path(r))]
    folder = Path(a.out_dir) / a.name
    if a.weights is None:
        trainer = load_run(run)
        trainer.export(folder, command=a.command, dtype=WEIGHTS_DTYPES[a.weights_dtype])
        stages.append({**stage_record(run), "steps": trainer.step, "wall_min": round(trainer.wall_s / 60, 1)})
    else:
        if Path(a.weights).resolve() != folder.resolve():
            shutil.rmtree(folder, ignore_errors=True)
            shutil.copytree(a.weights, folder, ignore=shutil.ignore_patterns("README.md", "*.png", "metrics.json"))
        stages.append(stage_record(run))
    steps, wall = sum(st["steps"] for st in stages), sum(st["wall_min"] for st in stages)
    config = json.loads((folder / "config.json").read_text())   # the training record travels with the weights
    config["training"] = {**config.get("training", {}), "step": steps, "command": a.command, "wall_min": round(wall, 1),
                          "stages": stages}
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    G = Generator.from_pretrained(str(folder), device=a.device)
    links = list(generator_links(G).values())
    if not links and a.links_of:
        other = json.loads((Path(a.links_of) / "config.json").read_text())   # a run folder or a weight set
        links = links_from_specs(other["link"]["links"] if "link" in other else other["links"])
    start = HELDOUT_SEEDS.start
    m = measure(G, links, seeds=range(start, start + a.eval_seeds), fd_seeds=range(start, start + a.fd_images),
                device=a.device, baseline=a.baseline)
    metrics, control, fd, coverage, agreement = (m[k] for k in ("links", "control", "fd", "coverage",
                                                                "label_disagreement"))
    dropped = "; ".join(f"{k} {', '.join(v)}" for k, v in coverage["dropped"].items()) or "none"
    agreement_text = "; ".join(f"{k} {v} / {agreement['procedural'][k]}" for k, v in agreement["samples"].items())
    save_sheets(G, links if generator_links(G) else [], folder)
    commands = "\n".join(a.command)
    params = sum(p.numel() for p in G.parameters())
    rows = "\n".join(f"| {k} | {l.axes[0]}-{l.axes[1]} | {v['mse_in']:.2f} | {v['mse_out']:.2f} | {v['ratio']:.3f} "
                     f"| {v['leak_in']:.2f} | {v['leak_out']:.2f} |" for l, (k, v) in zip(links, metrics.items()))
    linked = bool(generator_links(G))
    fmt = lambda d: ", ".join(f"{k} {v}" for k, v in d.items())  # noqa: E731
    control_rows = "\n".join(
        f"| {k} | {fmt(v['linked'])} | {fmt(v['natural'])} | {v['linked_vs_natural']} | {fmt(v['unlinked'])} | "
        f"{v['elsewhere']} ({v['elsewhere_all']} counting every read) |" for k, v in control.items())
    control_text = f"""
Region control: the attribute oracle reads each face before and after a resample (the same faces and partners;
linkgan.control). linked: how often the region's attributes change when the link's axes are resampled; natural:
how often two random procedural faces differ in them; unlinked: how often they change when every other axis is
resampled; elsewhere: the share of the other attributes that change under the link's resample. Reads count where
the attribute is visible in both images and read with confidence >= 0.9 before.

| link | linked | natural | linked / natural (lowest) | unlinked | elsewhere |
| --- | --- | --- | --- | --- | --- |
{control_rows}
""" if control else ""
    vs_base = "".join(f" {k}: mse_in is {v['mse_in_vs_baseline']} x the baseline's." for k, v in metrics.items()
                      if "mse_in_vs_baseline" in v)
    base = base_model(a.earlier, Path(a.out_dir))
    card = front_matter("generator", tags=["region-editing"] if linked else [], base_model=base,
                        base_model_relation="finetune" if base else None) + f"""# {a.name}

A {G.config.resolution} px StyleGAN2 generator ({params:,} parameters, w_dim {G.config.w_dim}) trained on procedural
toy faces {"with LinkGAN links: resampling a link's axes of W changes only its region" if linked else
"without links (the baseline of the linked generator)"}.

## Re-create

```
{commands}
```

{stages_text(stages)}
The last stage's settings:
{optimisation_text(cfg.optim)}
- links: `{json.dumps(cfg.link.links)}`; lambda_in {cfg.link.lambda_in}, lambda_out {cfg.link.lambda_out},
  alpha {cfg.link.alpha} x the batch's per-axis std of w, every {cfg.link.every} steps

## Metrics

Link metrics (x1e-3 on [-1, 1] images; {a.eval_seeds} held-out seeds, untruncated, const noise; each face's
linked axes resampled towards those of seed + 10^9). mse_in / mse_out: change inside / outside the region when
the link's axes are resampled (LinkGAN Table 2); leak_in: change inside when the other axes are resampled;
leak_out = mse_out (Table 3). {"" if linked else "This generator has no links: these are the linked model's axes and regions measured here, for comparison."}

| link | axes | mse_in | mse_out | mse_out / mse_in | leak_in | leak_out |
| --- | --- | --- | --- | --- | --- | --- |
{rows}
{vs_base}
{control_text}
Fréchet distance to {a.fd_images} held-out procedural faces, {a.fd_images} samples (psi 1, random noise), in the
feature space "{FEATURE_SPACE}": **{fd:.3f}**.

Attribute coverage: the attribute oracle (`toyfaces64-oracle`) reads the same samples and procedural faces; the
total variation distance between the two distributions, averaged over the attributes, is **{coverage["mean_tv"]}**
(0: every attribute drawn as often as in the data). Drawn at under half their share (samples / data):
{dropped}.

Do the instruments read these faces alike? Share of faces where the segmenter (whose regions the links use) and
the oracle (which reads region control) disagree on whether a part is drawn (linkgan.control.label_disagreement),
samples / procedural faces: {agreement_text}.

`samples.png`: seeds 0-31, untruncated.{" `resample.png`: per link, two faces (psi 0.7) with the link's axes moved towards another face's (untruncated), t = 0, 0.25, 0.5, 0.75, 1." if linked else ""}
"""
    (folder / "README.md").write_text(card)
    summary = {"name": a.name, "step": steps, "wall_min": round(wall, 1), "stages": stages, "fd": round(fd, 4),
               "links": metrics, "control": control, "coverage": coverage, "label_disagreement": agreement}
    (folder / "metrics.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
