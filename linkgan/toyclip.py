"""The project's own small CLIP (Radford et al. 2021) in open_clip's architecture, trained contrastively on toy-face
image-caption pairs (docs/methods.md, "The toy-faces domain"), and its zero-shot attribute evaluation. The loop
behind training/train_clip.py.

A pool of rendered training faces is drawn once; every draw of a face pairs it with a fresh caption (wording and
order vary with the caption seed), so the text tower sees many captions per image.
"""
from __future__ import annotations

import copy
import json
import math
import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from .cards import front_matter
from .clip import CLIPAdapter, build_open_clip, preprocess_images, save_project_clip
from .data import ATTRIBUTES, HELDOUT_SEEDS, TRAIN_SEEDS, make_caption
from .data.pool import render_faces, to_float
from .runlog import RunLog, TrainRun, atomic_torch_save, cosine_schedule, fp16_rounded, step_line

# open_clip custom config: ViT at 64 px with 8 px patches (64 tokens), a 4-layer text transformer on open_clip's
# BPE tokenizer (its 49408-word table is most of the weights), joint space of 128 dims. Captions have <= 41 tokens.
TOY_CLIP_CFG = {
    "embed_dim": 128,
    "vision_cfg": {"image_size": 64, "patch_size": 8, "width": 128, "layers": 4, "head_width": 32, "mlp_ratio": 4.0},
    "text_cfg": {"context_length": 48, "vocab_size": 49408, "width": 64, "heads": 4, "layers": 4},
}
# Preprocessing stored with the model: the faces are rendered at the input size, so only normalisation acts.
TOY_PREPROCESS = {"size": 64, "mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711],
                  "interpolation": "bicubic", "resize_mode": "shortest", "fill_color": 0}

# Zero-shot classes: noun phrases per attribute value (as the captions word them), put into caption-like templates.
ATTRIBUTE_PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    "hair_style": {"bald": ("a bald head", "no hair"), "short": ("short hair",), "long": ("long hair",),
                   "bob": ("a bob haircut", "a bob"), "mohawk": ("a mohawk",), "curly": ("curly hair", "curls")},
    "hair_color": {c: (f"{c} hair",) for c in ATTRIBUTES["hair_color"]},
    "eye_color": {c: (f"{c} eyes",) for c in ATTRIBUTES["eye_color"]},
    "eyes": {"open": tuple(f"open {c} eyes" for c in ATTRIBUTES["eye_color"]), "closed": ("closed eyes", "shut eyes")},
    "mouth": {"neutral": ("a neutral expression", "a straight face"), "smile": ("a smile",),
              "open": ("an open mouth",), "frown": ("a frown",)},
    "glasses": {"none": ("no glasses",), "round": ("round glasses",), "square": ("square glasses",),
                "sunglasses": ("sunglasses",)},
    "beard": {"none": ("no beard",), "stubble": ("stubble",), "full": ("a beard", "a full beard")},
    "face_shape": {"round": ("a round face",), "oval": ("an oval face",), "square": ("a square face", "a square jaw")},
    "skin_tone": {t: (f"{t} skin",) for t in ATTRIBUTES["skin_tone"]},
    "background": {c: (f"a {c} background",) for c in ATTRIBUTES["background"]},
}
ZERO_SHOT_TEMPLATES = ("a face with {}", "a cartoon face with {}", "a person with {}", "a portrait with {}", "face, {}")


@torch.no_grad()
def zero_shot_accuracy(clip: CLIPAdapter, images: torch.Tensor, attrs: list, *, batch_size: int = 250
                       ) -> dict[str, float]:
    """Per-attribute zero-shot accuracy: argmax cosine to the ensembled class prompts (ATTRIBUTE_PHRASES x
    ZERO_SHOT_TEMPLATES). Faces whose attribute is hidden (FaceAttributes.hidden_attributes) are left out.
    images: float (N, 3, H, W) in [-1, 1]."""
    feats = torch.cat([clip.encode_image(images[i:i + batch_size]) for i in range(0, len(images), batch_size)])
    out = {}
    for key, classes in ATTRIBUTE_PHRASES.items():
        emb = []
        for value in ATTRIBUTES[key]:
            texts = [t.format(p) for p in classes[value] for t in ZERO_SHOT_TEMPLATES]
            emb.append(F.normalize(clip.encode_text(texts).mean(0), dim=-1))
        pred = (feats @ torch.stack(emb).T.to(feats)).argmax(1).cpu()
        keep = [i for i, a in enumerate(attrs) if key not in a.hidden_attributes()]
        truth = torch.tensor([ATTRIBUTES[key].index(getattr(attrs[i], key)) for i in keep])
        out[key] = float((pred[keep] == truth).float().mean())
    return out


def train_toy_clip(*, out: str | Path, run_dir: str | Path, steps: int = 1200, batch_size: int = 128,
                   lr: float = 1e-3, weight_decay: float = 0.05, warmup: int = 100, pool: int = 20_000,
                   seed: int = 0, log_every: int = 25, ckpt_every: int = 100, eval_faces: int = 500,
                   device: str | torch.device | None = None, command: str = "", resume: bool = True,
                   log: Callable[[str], None] | None = None) -> TrainRun:
    """Train the toy CLIP (TOY_CLIP_CFG) with open_clip's ClipLoss and save it to `out` (open_clip layout, model card).

    pool: training faces rendered once from TRAIN_SEEDS; each draw gets a new caption. run_dir: log and the
    resumable checkpoint (written atomically every `ckpt_every` steps; resume=True continues from it). AdamW with
    warm-up and cosine decay to 5 %; mild blur/colour/noise augmentation and horizontal flips (labels unchanged).
    """
    import open_clip

    from .segmenter import augment

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    out, run_dir = Path(out), Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _log = RunLog(run_dir / "train_log.txt", echo=log)

    settings = dict(steps=steps, batch_size=batch_size, lr=lr, weight_decay=weight_decay, warmup=warmup, pool=pool,
                    seed=seed, eval_faces=eval_faces, device=str(device))
    _log(json.dumps({"model_cfg": TOY_CLIP_CFG, "preprocess_cfg": TOY_PREPROCESS, "train": settings}))
    torch.manual_seed(seed)
    model = build_open_clip(TOY_CLIP_CFG).to(device).train()
    params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay}, {"params": rest, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.98), eps=1e-6)
    step, wall_before = 0, 0.0
    ckpt = run_dir / "checkpoint.pt"
    if resume and ckpt.is_file():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        step, wall_before = int(state["step"]), float(state["wall_s"])
        was = state.get("steps", 1200)   # checkpoints of the first shipped run did not record it (it was 1200)
        resumed = f"resumed from {ckpt} at step {step}" + (
            f"; schedule changed from {was} to {steps} steps" if int(was) != steps else "")
        _log(resumed)
        settings["resumed"] = list(state.get("resumed", [])) + [resumed]   # every restart of this run, in order
    _log(f"params {params}")
    t0 = time.perf_counter()
    start = (seed * 7919 * pool) % max(1, len(TRAIN_SEEDS) - pool)
    pool_seeds = list(TRAIN_SEEDS[start:start + pool])
    pool_images, pool_attrs = render_faces(pool_seeds)
    _log(f"rendered {pool} training faces in {time.perf_counter() - t0:.0f} s")
    loss_fn = open_clip.ClipLoss()
    tokenizer = open_clip.get_tokenizer("ViT-B-32", context_length=TOY_CLIP_CFG["text_cfg"]["context_length"])
    pp = {k: TOY_PREPROCESS[k] for k in ("size", "mean", "std", "interpolation", "resize_mode")}
    t_log, loss_sum, n_sum = time.perf_counter(), 0.0, 0
    while step < steps:
        g = torch.Generator().manual_seed(seed * 1_000_003 + step)     # batch = f(seed, step): resumes exactly
        idx = torch.randint(pool, (batch_size,), generator=g)
        img = augment(to_float(pool_images[idx]), g)
        flip = torch.rand(batch_size, generator=g) < 0.5
        img = torch.where(flip.view(-1, 1, 1, 1), img.flip(-1), img)
        captions = [make_caption(pool_attrs[i], pool_seeds[i] + 10_000_019 * (step + 1)) for i in idx.tolist()]
        text = tokenizer(captions).to(device)
        for group in opt.param_groups:
            group["lr"] = lr * cosine_schedule(step, steps, warmup, floor=0.05)
        img_f, txt_f, scale = model(preprocess_images(img.to(device), **pp), text)
        loss = loss_fn(img_f, txt_f, scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        step += 1
        loss_sum, n_sum = loss_sum + loss.item(), n_sum + 1
        if step % log_every == 0 or step == steps:
            now = time.perf_counter()
            rate = n_sum / (now - t_log)
            _log(step_line(step, steps, loss_sum / n_sum, opt.param_groups[0]["lr"], rate, wall_before + now - t0,
                           extra=f"scale {model.logit_scale.exp().item():.1f}"))
            t_log, loss_sum, n_sum = now, 0.0, 0
        if step % ckpt_every == 0 or step == steps:
            atomic_torch_save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "steps": steps,
                               "resumed": settings.get("resumed", []),
                                "wall_s": wall_before + time.perf_counter() - t0}, ckpt)
    wall = wall_before + time.perf_counter() - t0

    model = model.cpu().eval()
    images, attrs = render_faces(HELDOUT_SEEDS[:eval_faces])
    images = to_float(images)
    acc = _evaluate(model, tokenizer, images, attrs)
    acc16 = _evaluate(fp16_rounded(model), tokenizer, images, attrs)
    mean, mean16 = np.mean(list(acc.values())), np.mean(list(acc16.values()))
    dtype = torch.float16 if abs(mean16 - mean) < 0.002 else torch.float32
    _log(f"held-out zero-shot accuracy: mean {mean:.4f} (fp16 weights {mean16:.4f}) -> saving {dtype}")
    _log("per attribute: " + ", ".join(f"{k} {v:.3f}" for k, v in acc.items()))
    meta = {"templates": "toyfaces", "heldout_zero_shot_accuracy": {k: round(v, 4) for k, v in acc.items()},
            "train": {**settings, "steps_done": step, "wall_s": round(wall, 1)}}
    save_project_clip(model, out, model_cfg=TOY_CLIP_CFG, preprocess_cfg=TOY_PREPROCESS, meta=meta, dtype=dtype)
    run = TrainRun(folder=out, steps=step, wall_s=wall, accuracy=acc, params=params,
                  weights_dtype=str(dtype).replace("torch.", ""))
    (out / "README.md").write_text(model_card(run, command=command, settings=settings, eval_faces=eval_faces))
    (out / "train_log.txt").write_text((run_dir / "train_log.txt").read_text())
    _log.close()
    return run


def _evaluate(model, tokenizer, images, attrs) -> dict[str, float]:
    clip = CLIPAdapter(copy.deepcopy(model), tokenizer, name="toyfaces-clip", templates="toyfaces")
    from open_clip.model import set_model_preprocess_cfg
    set_model_preprocess_cfg(clip.model, dict(TOY_PREPROCESS))
    return zero_shot_accuracy(clip.to("cpu"), images, attrs)


def model_card(run: TrainRun, *, command: str, settings: dict, eval_faces: int) -> str:
    from .utils import cpu_model

    chance = {k: 1 / len(v) for k, v in ATTRIBUTES.items()}
    rows = "\n".join(f"| {k} | {v:.3f} | {chance[k]:.3f} |" for k, v in run.accuracy.items())
    resumed = "".join(f"\n- {note} (learning rates before it follow the old schedule)"
                      for note in settings.get("resumed", []) if "schedule changed" in note)
    hw = (f"{cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch thread(s), no GPU, "
          f"sharing the cores with two GAN training runs" if settings["device"] == "cpu" else settings["device"])
    return front_matter("clip") + f"""# toyfaces-clip

A small CLIP in open_clip's own architecture (`open_clip.CLIP`, custom config, {run.params:,} parameters), trained
contrastively on procedural toy-face images and their captions. The default CLIP of StyleCLIP editing offline.
Load it with `linkgan.clip.CLIPAdapter.load("toyfaces-clip")`; the folder is also open_clip's Hub layout
(`open_clip_config.json` + `open_clip_model.safetensors`), so `open_clip.create_model("local-dir:<folder>")` reads it.

- vision: ViT, 64 px input, 8 px patches, width 128, 4 layers; text: 4-layer transformer, width 64, context 48,
  open_clip's BPE tokenizer; joint embedding 128-d. Preprocessing: [-1, 1] images -> [0, 1] -> OpenAI mean/std.
- prompt templates: "toyfaces" (the prompt as written, with and without a full stop, capitalised)

## Re-create

```
{command}
```

- data: {settings['pool']:,} faces of `TRAIN_SEEDS` rendered once; each draw pairs a face with a fresh caption
  (`make_caption` with a new caption seed: wording and order vary); augmentation: horizontal flip, and
  `linkgan.segmenter.augment` (blur, mild colour jitter, noise)
- optimisation: open_clip `ClipLoss`, AdamW (lr {settings['lr']:g}, betas 0.9/0.98, weight decay
  {settings['weight_decay']:g} on matrices), {settings['warmup']} warm-up steps, cosine decay to 5 %,
  {run.steps} steps at batch {settings['batch_size']}; learnable temperature clamped at 100
- wall time: {run.wall_s / 60:.1f} min on {hw}{resumed}
- weights: {run.weights_dtype} (fp16 only when the mean zero-shot accuracy stays within 0.2 points)

## Held-out zero-shot accuracy

First {eval_faces} faces of `HELDOUT_SEEDS` (never trained on). Each class is the normalised mean embedding of its
phrases (`linkgan.toyclip.ATTRIBUTE_PHRASES`) in 5 caption-like templates (`ZERO_SHOT_TEMPLATES`); a face counts
for an attribute only where it is visible (no eye colour behind sunglasses or closed eyes, no hair colour on a
bald head without a full beard).

**mean {np.mean(list(run.accuracy.values())):.3f}**

| attribute | accuracy | chance |
| --- | --- | --- |
{rows}
"""
