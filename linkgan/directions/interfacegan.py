"""InterFaceGAN (Shen et al., CVPR 2020, "Interpreting the Latent Space of GANs for Semantic Face Editing",
Sec. 2.2 and 3.1): a linear boundary in W per attribute value, fitted on sampled codes labelled by a classifier;
its unit normal is the editing direction (n added to every W+ row).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch

from .base import Directions, parse_rows, projection_scales, sample_w


def linear_boundary(codes: torch.Tensor, scores: torch.Tensor, *, chosen: float = 0.02, split: float = 0.7,
                    l2: float = 1e-4, seed: int = 0) -> tuple[torch.Tensor, dict]:
    """InterFaceGAN's train_boundary: sort the codes (N, D) by score (N,) (NaN: left out), take the top and bottom
    `chosen` (<= 1: a ratio of N; > 1: a count; at most N/2) as positives and negatives, split each side
    `split` / rest into train / validation, fit a linear classifier and return its unit normal (D,) (the intercept
    is discarded: the hyperplane through the origin, as in the paper) and {"train_accuracy", "val_accuracy",
    "per_side"}. The classifier is an L2-regularised logistic regression (full-batch L-BFGS) instead of the
    paper's linear SVM (sklearn is not a dependency): both fit a separating hyperplane of well-separated sides."""
    keep = ~torch.isnan(scores)
    codes, scores = codes[keep].double(), scores[keep].double()
    n = len(codes)
    per_side = int(chosen * n) if chosen <= 1 else int(chosen)
    per_side = min(per_side, n // 2)
    if per_side < 2:
        raise ValueError(f"too few labelled codes for a boundary: {n} codes, {per_side} per side")
    order = scores.argsort(descending=True)
    g = torch.Generator().manual_seed(seed)
    sides = [order[:per_side], order[-per_side:]]
    n_train = max(1, int(split * per_side))
    train, val = [], []
    for label, idx in zip((1.0, 0.0), sides):
        idx = idx[torch.randperm(per_side, generator=g)]
        train.append((idx[:n_train], label))
        val.append((idx[n_train:], label))

    def xy(parts):
        x = torch.cat([codes[i] for i, _ in parts])
        y = torch.cat([torch.full((len(i),), lab, dtype=torch.float64) for i, lab in parts])
        return x, y

    x, y = xy(train)
    mean, std = x.mean(0), x.std(0).clamp_min(1e-8)               # standardised for conditioning; undone below
    xs = (x - mean) / std
    coef = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([coef, bias], max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(xs @ coef + bias, y) + l2 * coef.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    coef = coef.detach()

    def accuracy(parts) -> float | None:
        xv, yv = xy(parts)
        if not len(xv):
            return None
        return round(float((((xv - mean) / std @ coef + bias.detach()) > 0).double().eq(yv).double().mean()), 4)

    normal = coef / std                                            # the boundary's normal in the codes' own axes
    normal = normal / normal.norm().clamp_min(1e-12)
    return normal.float(), {"train_accuracy": accuracy(train), "val_accuracy": accuracy(val), "per_side": per_side}


def project_out(normal: torch.Tensor, conditions: torch.Tensor) -> torch.Tensor:
    """InterFaceGAN's conditional manipulation (Sec. 2.3, project_boundary for any number of conditions): the unit
    normal (D,) with the span of the condition normals (K, D) removed, so that moving along it leaves the
    conditioning attributes' boundary distances unchanged."""
    c = conditions.double()
    x = torch.linalg.solve(c @ c.T, c @ normal.double())                 # (K,)
    out = normal.double() - x @ c
    return (out / out.norm().clamp_min(1e-12)).float()


@torch.no_grad()
def interfacegan(G, labeller: Callable[[torch.Tensor], dict[str, torch.Tensor]], *,
                 targets: Sequence[tuple[str, str]], class_names: dict[str, Sequence[str]],
                 num_samples: int = 10_000, psi: float = 0.7, chosen: float = 0.02, rows: Sequence[int] | None = None,
                 seed: int = 0, batch: int = 200, scale_samples: int = 5000, conditional: bool = True) -> Directions:
    """One boundary per (attribute, value) of `targets`, fitted on `num_samples` codes w (truncation psi, as
    InterFaceGAN samples StyleGAN) labelled by `labeller` (images -> {attribute: (B, C) class scores, NaN where
    not visible}; class_names: {attribute: the C names}). A code's score for a value is its margin over the best
    other class (labels.value_score). Direction k = targets[k]'s unit normal, added to `rows` (None: all). With
    `conditional`, targets[k]'s normal with the other attributes' boundaries projected out follows, as direction
    len(targets) + k ("... (others kept)"): the paper's remedy for attributes entangled in W. scores = validation
    accuracy."""
    from .labels import value_score

    rows = parse_rows(rows, G.num_ws)
    for attr, value in targets:
        if attr not in class_names or value not in class_names[attr]:
            raise ValueError(f"unknown target {attr}={value}; known: {dict(class_names)}")
    w = sample_w(G, num_samples, seed=seed, psi=psi)
    reads: dict[str, list[torch.Tensor]] = {}
    for i in range(0, num_samples, batch):
        img = G.synthesize(w[i:i + batch].to(G.w_avg.device), noise_mode="const")
        for k, v in labeller(img).items():
            reads.setdefault(k, []).append(v.cpu())
    scores_by_attr = {k: torch.cat(v) for k, v in reads.items()}
    vectors, fits = [], {}
    for attr, value in targets:
        s = value_score(scores_by_attr[attr], list(class_names[attr]).index(value))
        normal, fit = linear_boundary(w.cpu(), s, chosen=chosen, seed=seed)
        vectors.append(normal)
        fits[f"{attr}={value}"] = {**fit, "read_as_value": round(float((s > 0).float().nanmean()), 4)}
    vectors = torch.stack(vectors)
    names = [f"{a.replace('_', ' ').replace('color', 'colour')} → {v}" for a, v in targets]
    accuracy = [fits[f"{a}={v}"]["val_accuracy"] or 0.0 for a, v in targets]
    if conditional:
        attrs = [a for a, _ in targets]
        others = [[j for j, b in enumerate(attrs) if b != a] for a in attrs]
        vectors = torch.cat([vectors, torch.stack([project_out(n, vectors[o]) if o else n
                                                   for n, o in zip(vectors, others)])])
        names, accuracy = names + [f"{n} (others kept)" for n in names], accuracy * 2
    return Directions(method="interfacegan", vectors=vectors, scales=projection_scales(G, vectors, n=scale_samples),
                      scores=torch.tensor(accuracy), rows=[rows] * len(vectors), names=names,
                      meta={"targets": [f"{a}={v}" for a, v in targets], "num_samples": num_samples, "psi": psi,
                            "chosen": chosen, "seed": seed, "rows": list(rows), "fits": fits, "made_for": names, "conditional": conditional,
                            "labeller": getattr(labeller, "description", type(labeller).__name__)})
