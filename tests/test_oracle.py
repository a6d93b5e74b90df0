"""Tests of the toy-faces attribute oracle (linkgan/oracle.py) and the face pool it trains on (linkgan/data/pool.py)."""
from __future__ import annotations

import pytest
import torch

from linkgan.data import ATTRIBUTES, sample_attributes
from linkgan.data.pool import attribute_targets, render_faces, to_float
from linkgan.hub import REGISTRY
from linkgan.oracle import (AttributeOracle, OracleConfig, accuracy, attribute_frequencies, coverage_gap, edit_score,
                            oracle_loss)


@pytest.fixture(scope="module")
def faces():
    images, attrs = render_faces(range(12))
    return to_float(images), attrs


def test_pool_targets_hide_what_cannot_be_seen(faces):
    images, attrs = faces
    assert images.shape == (12, 3, 64, 64) and -1 <= float(images.min()) and float(images.max()) <= 1
    t = attribute_targets(attrs)
    assert t.shape == (12, len(ATTRIBUTES))
    keys = list(ATTRIBUTES)
    for row, a in zip(t.tolist(), attrs):
        for k, v in zip(keys, row):
            assert v == (-100 if k in a.hidden_attributes() else ATTRIBUTES[k].index(getattr(a, k)))
    sunglasses = next(s for s in range(1000) if sample_attributes(s).glasses == "sunglasses")
    row = attribute_targets([sample_attributes(sunglasses)])[0]
    assert row[keys.index("eye_color")] == -100 and row[keys.index("eyes")] == -100


def test_oracle_heads_loss_and_round_trip(faces, tmp_path):
    images, attrs = faces
    torch.manual_seed(0)
    model = AttributeOracle(OracleConfig(channels=(8, 16)))
    logits = model(images)
    assert {k: v.shape for k, v in logits.items()} == {k: (12, len(v)) for k, v in ATTRIBUTES.items()}
    targets = attribute_targets(attrs)
    loss = oracle_loss(logits, targets)
    assert torch.isfinite(loss) and loss.item() > 0
    # hidden labels (-100) contribute nothing: masking face 0 everywhere is the loss of the other faces
    masked = targets.clone()
    masked[0] = -100
    rest = oracle_loss({k: v[1:] for k, v in logits.items()}, targets[1:])
    assert torch.allclose(oracle_loss(logits, masked), rest)
    acc = accuracy(model, images, targets)
    assert set(acc) == set(ATTRIBUTES) and all(0 <= v <= 1 for v in acc.values())
    names = model.predict(images[:2])
    assert all(n in ATTRIBUTES[k] for k, v in names.items() for n in v)
    model.eval().save_pretrained(tmp_path / "oracle")
    loaded = AttributeOracle.from_pretrained(tmp_path / "oracle")
    assert loaded.config == model.config
    assert all(torch.equal(loaded(images)[k], model(images)[k]) for k in ATTRIBUTES)
    with pytest.raises(ValueError, match="float images"):
        model(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))


def test_registry_names_the_clip_and_the_oracle():
    assert REGISTRY["toyfaces-clip"].kind == "CLIP" and REGISTRY["toyfaces-clip"].local == "toyfaces-clip"
    assert REGISTRY["toyfaces64-oracle"].kind == "AttributeOracle"


def test_edit_score_counts_success_preservation_and_what_changed():
    """The judge of text edits (StyleCLIP benchmark, alpha / beta tuning): success over faces that lacked the target
    (and could show it), preservation over the other visible attributes the oracle read confidently before the edit
    (preservation_all: over every visible read), and which of them changed."""
    keys = ("hair_color", "hair_style", "glasses", "eyes", "beard", "mouth")
    before = [("black", "short", "none", "open", "none", "smile"),
              ("purple", "short", "none", "open", "none", "neutral"),     # already has the target: not eligible
              ("black", "bald", "none", "open", "none", "neutral")]       # bald, no full beard: colour hidden
    after = [("purple", "short", "none", "open", "none", "neutral"),      # hit, but the mouth changed
             ("purple", "long", "none", "open", "none", "neutral"),       # the hair style changed (an unsure read)
             ("purple", "bald", "none", "open", "none", "neutral")]
    unsure = {(1, "hair_style")}                                         # read at p = 0.6 before the edit

    class Oracle:        # reads the table of the images' marker (0: before, 1: after)
        config = OracleConfig(attributes={k: list(ATTRIBUTES[k]) for k in keys})

        def probabilities(self, images):
            rows = before if float(images[0, 0, 0, 0]) == 0 else after
            out = {}
            for j, k in enumerate(keys):
                p = torch.zeros(len(rows), len(ATTRIBUTES[k]))
                for i, r in enumerate(rows):
                    c = ATTRIBUTES[k].index(r[j])
                    p[i] = 0.4 / (p.shape[1] - 1) if (i, k) in unsure else 0.0
                    p[i, c] = 0.6 if (i, k) in unsure else 1.0
                out[k] = p
            return out

    out = edit_score(Oracle(), torch.zeros(3, 3, 4, 4), torch.ones(3, 3, 4, 4), "hair_color", "purple")
    assert out["eligible"] == 1 and out["success"] == 1.0
    assert out["preservation_all"] == round(13 / 15, 3)                  # every visible read: 2 of 15 changed
    assert out["counted"] == 14 and out["preservation"] == round(13 / 14, 3)   # the unsure read is not counted
    assert out["changed"] == {"mouth": "1/3"}
    strict = edit_score(Oracle(), torch.zeros(3, 3, 4, 4), torch.ones(3, 3, 4, 4), "hair_color", "purple",
                        min_confidence=0.0)
    assert strict["preservation"] == strict["preservation_all"] and strict["changed"]["hair_style"] == "1/3"


def test_coverage_finds_the_classes_a_generator_draws_too_rarely():
    """attribute_frequencies counts each attribute where it is visible; coverage_gap is 0 for the same distribution
    and names a class drawn at under a quarter of its share."""
    keys = ("hair_color", "hair_style", "glasses", "eyes", "beard")
    data = [("black", "short", "none", "open", "none"), ("blue", "long", "none", "open", "none"),
            ("blue", "bald", "none", "open", "none"),            # bald without a full beard: colour hidden
            ("black", "short", "none", "closed", "none")]
    samples = [("black", "short", "none", "open", "none")] * 4

    class Oracle:        # reads the table of the images' marker (0: data, 1: samples)
        config = OracleConfig(attributes={k: list(ATTRIBUTES[k]) for k in keys})

        def predict(self, images):
            rows = data if float(images[0, 0, 0, 0]) == 0 else samples
            return {k: [r[j] for r in rows] for j, k in enumerate(keys)}

    ref = attribute_frequencies(Oracle(), torch.zeros(4, 3, 4, 4))
    assert ref["hair_color"]["black"] == pytest.approx(2 / 3) and ref["hair_color"]["blue"] == pytest.approx(1 / 3)
    assert sum(ref["eyes"].values()) == pytest.approx(1) and ref["eyes"]["closed"] == 0.25
    assert coverage_gap(ref, ref) == {"tv": {k: 0.0 for k in keys}, "mean_tv": 0.0, "dropped": {}}
    gap = coverage_gap(attribute_frequencies(Oracle(), torch.ones(4, 3, 4, 4)), ref)
    assert gap["tv"]["hair_color"] == pytest.approx(1 / 3, abs=1e-3) and gap["tv"]["eyes"] == 0.25
    assert gap["dropped"] == {"hair_color": ["blue: 0.00 / 0.33"], "hair_style": ["bald: 0.00 / 0.25",
                              "long: 0.00 / 0.25"], "eyes": ["closed: 0.00 / 0.25"]}


def test_an_oracle_trains_on_3d_heads(tmp_path):
    """--data heads3d: the pool and the held-out faces are renders of the 3D toy heads (each from its own view), with
    the same attributes and hidden rules as the faces; the card names the data."""
    from linkgan.data.heads3d import toy_heads
    from linkgan.oracle import oracle_images, train_oracle
    images, attrs = oracle_images("heads3d", [3, 4])
    assert images.dtype == torch.uint8 and images.shape == (2, 64, 64, 3)
    assert torch.equal(images.permute(0, 3, 1, 2).float() / 127.5 - 1, to_float(images))
    assert (to_float(images) - toy_heads([3, 4]).image).abs().max() <= 1 / 127.5 + 1e-6   # the heads, rounded
    assert attrs == [sample_attributes(3), sample_attributes(4)]
    run = train_oracle(out=tmp_path / "o3d", steps=2, batch_size=4, pool=8, eval_faces=4, data="heads3d",
                       log=lambda s: None)
    card = (tmp_path / "o3d" / "README.md").read_text()
    assert "# heads3d64-oracle" in card and "3D toy heads" in card and set(run.accuracy) == set(ATTRIBUTES)
    with pytest.raises(ValueError, match="data must be one of"):
        train_oracle(out=tmp_path / "x", steps=1, data="faces3d")
