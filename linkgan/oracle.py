"""An attribute oracle for toy faces: a small CNN with one classification head per categorical attribute, trained on the
procedural ground truth (docs/methods.md, "The toy-faces domain"), independent of CLIP. It scores text edits (did "blond
hair" make the hair blond, and what else changed?) without grading CLIP with CLIP. Also `train_oracle`
(training/train_oracle.py).
"""
from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .cards import front_matter
from .data import ATTRIBUTES, HELDOUT_SEEDS, TRAIN_SEEDS
from .data.attributes import hidden_in_reading
from .data.pool import attribute_targets, render_faces, to_float
from .hub import ModelHubMixin, config_to_dict
from .runlog import RunLog, TrainRun, fp16_rounded, step_line


@dataclass
class OracleConfig:
    resolution: int = 64                                    # input side; any multiple of 2**len(channels) runs
    attributes: dict = field(default_factory=lambda: {k: list(v) for k, v in ATTRIBUTES.items()})  # name -> classes
    channels: tuple[int, ...] = (32, 64, 96, 128)           # one stride-2 stage per entry

    def __post_init__(self):
        self.channels = tuple(int(c) for c in self.channels)
        self.attributes = {str(k): list(v) for k, v in self.attributes.items()}
        if not self.attributes or any(len(v) < 2 for v in self.attributes.values()):
            raise ValueError(f"every attribute needs >= 2 classes, got {self.attributes}")
        if not self.channels or min(self.channels) <= 0:
            raise ValueError(f"channels must be positive ints, got {self.channels}")


class AttributeOracle(nn.Module, ModelHubMixin):
    """image (B, 3, H, W) in [-1, 1] -> {attribute: logits (B, num_classes)}."""

    config_class = OracleConfig

    def __init__(self, config: OracleConfig | None = None):
        super().__init__()
        self.config = cfg = config or OracleConfig()
        layers, cin = [], 3
        for c in cfg.channels:   # per stage: 3x3 conv stride 2 then 3x3 conv, each + BatchNorm + ReLU
            layers += [nn.Conv2d(cin, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                       nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            cin = c
        self.features = nn.Sequential(*layers)
        # average + max pooling: colours are global, small parts (eyes, stubble) show best in the max
        self.heads = nn.ModuleDict({k: nn.Linear(2 * cin, len(v)) for k, v in cfg.attributes.items()})

    def forward(self, img: torch.Tensor) -> dict[str, torch.Tensor]:
        if img.ndim != 4 or img.shape[1] != 3 or not img.is_floating_point():
            raise ValueError(f"AttributeOracle expects float images (B, 3, H, W) in [-1, 1], got "
                             f"{tuple(img.shape)} {img.dtype}")
        x = self.features(img)                                               # (B, C, H/16, W/16)
        x = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))], dim=1)       # (B, 2C)
        return {k: head(x) for k, head in self.heads.items()}

    @torch.no_grad()
    def predict(self, img: torch.Tensor, *, batch_size: int = 128) -> dict[str, list[str]]:
        """Class names per attribute for each image (eval mode; mode restored after)."""
        probs = self.probabilities(img, batch_size=batch_size)
        return {k: [self.config.attributes[k][i] for i in p.argmax(1).tolist()] for k, p in probs.items()}

    @torch.no_grad()
    def probabilities(self, img: torch.Tensor, *, batch_size: int = 128) -> dict[str, torch.Tensor]:
        """Softmax probabilities {attribute: (B, num_classes)} (eval mode; mode restored after)."""
        was = self.training
        self.eval()
        try:
            outs = [self(img[i:i + batch_size]) for i in range(0, len(img), batch_size)]
            return {k: torch.cat([o[k] for o in outs]).softmax(1) for k in self.config.attributes}
        finally:
            self.train(was)


def _hidden(pred: dict[str, list[str]], i: int) -> frozenset[str]:
    """Attributes not visible in image i, from the oracle's own reading (the dataset's rules)."""
    return hidden_in_reading({k: v[i] for k, v in pred.items()})


# An attribute counts toward preservation only where the oracle reads it with at least this top-class probability
# before the edit. On the toy generator's faces the oracle reads some attributes ambiguously (median confidence
# 0.75 for hair style and mouth on toyfaces64-linked), and such a read flips under any change of the image: a
# pixel-exact recolouring of the hair (the segmenter's hair region, nothing else touched) "changes" the hair style
# of 42 % of the faces when every read counts (preservation 0.86), but of few when only confident reads count
# (0.965; real toy faces edited through the renderer: 0.99 either way). docs/text-editing.md has the numbers.
PRESERVE_CONFIDENCE = 0.9


def edit_score(oracle, before: torch.Tensor, after: torch.Tensor, attribute: str, value: str, *,
               min_confidence: float = PRESERVE_CONFIDENCE) -> dict:
    """How well edits before -> after (B, 3, H, W) set attribute=value, as the oracle reads the images:
    success: among the faces that lacked the value (and could show it) before, the share that has it after;
    preservation: the share of the other attributes (visible before and after, and read with top-class probability
    >= min_confidence before) read the same after; preservation_all: the same over every visible read;
    changed: per other attribute that changed at least once (confident reads), "changed/counted"."""
    probs_b, probs_a = oracle.probabilities(before), oracle.probabilities(after)
    names = oracle.config.attributes
    pb = {k: [names[k][i] for i in p.argmax(1).tolist()] for k, p in probs_b.items()}
    pa = {k: [names[k][i] for i in p.argmax(1).tolist()] for k, p in probs_a.items()}
    sure = {k: (p.max(1).values >= min_confidence).tolist() for k, p in probs_b.items()}
    hit = eligible = 0
    counted: Counter = Counter()
    changed: Counter = Counter()
    seen = flips = 0
    for i in range(len(before)):
        hb, ha = _hidden(pb, i), _hidden(pa, i)
        if attribute not in hb and pb[attribute][i] != value:
            eligible += 1
            hit += attribute not in ha and pa[attribute][i] == value
        for k in pb:
            if k != attribute and k not in hb and k not in ha:
                seen += 1
                flips += pb[k][i] != pa[k][i]
                if sure[k][i]:
                    counted[k] += 1
                    changed[k] += pb[k][i] != pa[k][i]
    others = sum(counted.values())
    kept = others - sum(changed.values())
    return {"success": round(hit / eligible, 3) if eligible else None, "eligible": eligible,
            "preservation": round(kept / others, 3) if others else None, "counted": others,
            "preservation_all": round(1 - flips / seen, 3) if seen else None,
            "changed": {k: f"{changed[k]}/{counted[k]}" for k in counted if changed[k]}}


def oracle_confidence(oracle: AttributeOracle, images: torch.Tensor) -> dict[str, float]:
    """Median top-class probability per attribute on `images`: how clearly the oracle reads each attribute (one
    read near 0.5 flips under small changes of the image)."""
    return {k: round(float(p.max(1).values.median()), 3) for k, p in oracle.probabilities(images).items()}


def attribute_frequencies(oracle, images: torch.Tensor, *, reads: dict[str, list[str]] | None = None
                          ) -> dict[str, dict[str, float]]:
    """Share of each class per attribute as the oracle reads `images`, over the images where the attribute is
    visible (by the oracle's own reading; {} for an attribute hidden in all of them). reads: oracle.predict(images)
    where the caller has it."""
    pred = oracle.predict(images) if reads is None else reads
    out = {}
    for k, classes in oracle.config.attributes.items():
        seen = Counter(pred[k][i] for i in range(len(images)) if k not in _hidden(pred, i))
        total = sum(seen.values())
        out[k] = {v: seen[v] / total for v in classes} if total else {}
    return out


def coverage_gap(freqs: dict[str, dict[str, float]], reference: dict[str, dict[str, float]], *,
                 dropped_below: float = 0.5) -> dict:
    """How a generator's attribute distribution (attribute_frequencies of its samples) differs from the reference
    (of the data): per attribute the total variation distance (0: the same shares, 1: disjoint), and the classes it
    draws at under `dropped_below` times the reference's share ("class: ours / reference")."""
    tv, dropped = {}, {}
    for k, ref in reference.items():
        ours = freqs.get(k, {})
        if not ref or not ours:
            continue
        tv[k] = round(0.5 * sum(abs(ours.get(v, 0.0) - p) for v, p in ref.items()), 3)
        low = [f"{v}: {ours.get(v, 0.0):.2f} / {p:.2f}" for v, p in ref.items() if ours.get(v, 0.0) < dropped_below * p]
        if low:
            dropped[k] = low
    return {"tv": tv, "mean_tv": round(sum(tv.values()) / len(tv), 3) if tv else None, "dropped": dropped}


def oracle_loss(logits: dict[str, torch.Tensor], targets: torch.Tensor) -> torch.Tensor:
    """Mean over attributes of the cross-entropy; targets (B, A) in ATTRIBUTES order, -100 where hidden."""
    losses = [F.cross_entropy(logits[k], targets[:, i], ignore_index=-100) for i, k in enumerate(logits)]
    return torch.stack(losses).mean()


def accuracy(model: AttributeOracle, images: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
    """Per-attribute accuracy over the faces where the attribute is visible (targets != -100)."""
    probs = model.probabilities(images)
    out = {}
    for i, k in enumerate(model.config.attributes):
        keep = targets[:, i] != -100
        out[k] = float((probs[k].argmax(1)[keep] == targets[keep, i]).float().mean())
    return out


# What an oracle can be trained on: the 2D toy faces, or renders of the 3D toy heads (the same attributes), which the
# faces' oracle reads poorly away from the front (e.g. mouth 0.2-0.34, glasses 0.19-0.85 over the metric views).
ORACLE_DATA = {"toyfaces": "64 px toy faces",
               "heads3d": "64 px renders of the 3D toy heads, each from its own view in the camera range"}


def oracle_images(data: str, seeds) -> tuple[torch.Tensor, list]:
    """uint8 images (N, 64, 64, 3) and the FaceAttributes of `seeds`: toy faces, or 3D toy heads each seen from its
    seed's view (`linkgan.data.heads3d.toy_heads`, rendered in chunks to bound memory)."""
    if data == "toyfaces":
        return render_faces(seeds)
    if data != "heads3d":
        raise ValueError(f"data must be one of {', '.join(ORACLE_DATA)}, got {data!r}")
    from .data.attributes import sample_attributes
    from .data.heads3d import toy_heads
    from .utils import to_uint8
    seeds = [int(s) for s in seeds]
    images = [torch.from_numpy(to_uint8(toy_heads(seeds[i:i + 256]).image)) for i in range(0, len(seeds), 256)]
    return torch.cat(images), [sample_attributes(s) for s in seeds]


def train_oracle(*, out: str | Path, steps: int = 1500, batch_size: int = 64, lr: float = 2e-3, pool: int = 12_000,
                 seed: int = 0, log_every: int = 50, eval_faces: int = 1000, device: str | torch.device | None = None,
                 command: str = "", log: Callable[[str], None] | None = None, data: str = "toyfaces") -> TrainRun:
    """Train an AttributeOracle on `pool` faces of TRAIN_SEEDS (rendered once; flips and `segmenter.augment`), Adam
    with cosine decay to 5 %; evaluate on the first `eval_faces` HELDOUT_SEEDS faces; save weights + card to `out`.
    data: "toyfaces", or "heads3d" for renders of the 3D toy heads (ORACLE_DATA)."""
    from .segmenter import augment

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _log = RunLog(out / "train_log.txt", mode="w", echo=log)

    config = OracleConfig()
    if data not in ORACLE_DATA:
        raise ValueError(f"data must be one of {', '.join(ORACLE_DATA)}, got {data!r}")
    settings = dict(steps=steps, batch_size=batch_size, lr=lr, pool=pool, seed=seed, eval_faces=eval_faces,
                    device=str(device), data=data)
    _log(json.dumps({"model": config_to_dict(config), "train": settings}))
    torch.manual_seed(seed)
    model = AttributeOracle(config).to(device).train()
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    t0 = time.perf_counter()
    start = (seed * 7919 * pool + 5_000_000) % max(1, len(TRAIN_SEEDS) - pool)   # a window the CLIP did not use
    images, attrs = oracle_images(data, TRAIN_SEEDS[start:start + pool])
    targets = attribute_targets(attrs)
    _log(f"params {params}; rendered {pool} training faces in {time.perf_counter() - t0:.0f} s")
    g = torch.Generator().manual_seed(seed)
    t_log, loss_sum, n_sum = time.perf_counter(), 0.0, 0
    for step in range(1, steps + 1):
        idx = torch.randint(pool, (batch_size,), generator=g)
        img = augment(to_float(images[idx]), g)
        flip = torch.rand(batch_size, generator=g) < 0.5
        img = torch.where(flip.view(-1, 1, 1, 1), img.flip(-1), img)
        loss = oracle_loss(model(img.to(device)), targets[idx].to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        loss_sum, n_sum = loss_sum + loss.item(), n_sum + 1
        if step % log_every == 0 or step == steps:
            now = time.perf_counter()
            rate = n_sum / (now - t_log)
            _log(step_line(step, steps, loss_sum / n_sum, sched.get_last_lr()[0], rate, now - t0))
            t_log, loss_sum, n_sum = now, 0.0, 0
    wall = time.perf_counter() - t0

    model = model.cpu().eval()
    ev_images, ev_attrs = oracle_images(data, HELDOUT_SEEDS[:eval_faces])
    ev_images, ev_targets = to_float(ev_images), attribute_targets(ev_attrs)
    acc = accuracy(model, ev_images, ev_targets)
    acc16 = accuracy(fp16_rounded(model), ev_images, ev_targets)
    mean, mean16 = float(np.mean(list(acc.values()))), float(np.mean(list(acc16.values())))
    dtype = torch.float16 if abs(mean - mean16) < 0.001 else torch.float32
    _log(f"held-out accuracy: mean {mean:.4f} (fp16 weights {mean16:.4f}) -> saving {dtype}")
    _log("per attribute: " + ", ".join(f"{k} {v:.3f}" for k, v in acc.items()))
    model.save_pretrained(out, dtype=dtype, extra={"heldout_accuracy": {k: round(v, 4) for k, v in acc.items()},
                                                   "train": {**settings, "wall_s": round(wall, 1)}})
    run = TrainRun(folder=out, steps=steps, wall_s=wall, accuracy=acc, params=params,
                    weights_dtype=str(dtype).replace("torch.", ""))
    (out / "README.md").write_text(model_card(run, command=command, settings=settings))
    _log.close()
    return run


USES = {"toyfaces": "it scores text edits (target attribute hit, other attributes kept) and region control.",
        "heads3d": "it reads the 3D generators' region control and view consistency from any view\nof the range "
                   "(`linkgan.metrics3d`)."}


def model_card(run: TrainRun, *, command: str, settings: dict) -> str:
    from .utils import cpu_model

    rows = "\n".join(f"| {k} | {v:.3f} | {1 / len(ATTRIBUTES[k]):.3f} |" for k, v in run.accuracy.items())
    hw = (f"{cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch thread(s), no GPU, "
          f"sharing the cores with other training runs" if settings["device"] == "cpu" else settings["device"])
    data = settings.get("data", "toyfaces")
    return front_matter("oracle", tags=("3d",) if data == "heads3d" else ()) + f"""# {data}64-oracle

An attribute classifier for {ORACLE_DATA[data]} (`linkgan.oracle.AttributeOracle`, {run.params:,} parameters): a small
CNN (4 stride-2 stages, average + max pooling) with one head per categorical attribute of `linkgan.data.ATTRIBUTES`.
Trained on the procedural ground truth, independently of any CLIP: {USES[data]}

## Re-create

```
{command}
```

- data: {settings['pool']:,} {"heads" if data == "heads3d" else "faces"} of `TRAIN_SEEDS` rendered once (a window apart from the CLIP's), horizontal flips
  and `linkgan.segmenter.augment` (blur, mild colour jitter, noise); hidden attributes (eye colour behind
  sunglasses or closed eyes, hair colour of a bald head) are left out of the loss
- optimisation: Adam lr {settings['lr']:g} cosine-decayed to 5 %, mean cross-entropy over the heads,
  {run.steps} steps at batch {settings['batch_size']}
- wall time: {run.wall_s / 60:.1f} min on {hw}
- weights: {run.weights_dtype} (fp16 only when the mean held-out accuracy stays within 0.1 points)

## Held-out accuracy

First {settings['eval_faces']} faces of `HELDOUT_SEEDS` (never trained on), each attribute over the faces where it
is visible.

**mean {float(np.mean(list(run.accuracy.values()))):.3f}**

| attribute | accuracy | chance |
| --- | --- | --- |
{rows}
"""
