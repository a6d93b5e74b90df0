"""Tests of the procedural toy faces domain (linkgan/data): determinism, geometry, masks, captions, dataset."""
from __future__ import annotations

import dataclasses
import itertools
import re

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from linkgan.data import (ATTRIBUTES, EYES_BOX, HELDOUT_SEEDS, MOUTH_BOX, PART_LABELS, SIZES, TRAIN_SEEDS,
                          FaceAttributes, ToyFace, ToyFacesDataset, image_to_tensor, make_caption,
                          reduce_labels, render, sample_attributes, tensor_to_image, toy_face)
from linkgan.data.attributes import BACKGROUND_RGB, COLOR_JITTER, EYE_RGB, HAIR_RGB, SKIN_RGB
from linkgan.data.render import _VOTE

L = {name: i for i, name in enumerate(PART_LABELS)}
SEEDS = range(300)


@pytest.fixture(scope="module")
def faces64() -> list[ToyFace]:
    return [toy_face(s, size=64) for s in SEEDS]


def test_constants():
    for name in ("background", "skin", "hair", "eyes", "mouth", "glasses", "beard"):
        assert name in PART_LABELS
    assert PART_LABELS[0] == "background" and len(set(PART_LABELS)) == len(PART_LABELS)
    assert SIZES == (32, 64, 128, 256)
    assert TRAIN_SEEDS.step == HELDOUT_SEEDS.step == 1 and TRAIN_SEEDS.stop <= HELDOUT_SEEDS.start  # disjoint
    for x0, y0, x1, y1 in (EYES_BOX, MOUTH_BOX):
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    assert EYES_BOX[3] <= MOUTH_BOX[1], "the eyes and mouth regions must not overlap"


@pytest.mark.parametrize("size", SIZES)
def test_render_shapes(size):
    face = toy_face(7, size=size)
    assert face.image.shape == (size, size, 3) and face.image.dtype == np.uint8
    assert face.masks.shape == (size, size) and face.masks.dtype == np.uint8
    assert face.masks.max() < len(PART_LABELS)
    assert isinstance(face.caption, str) and face.caption


def test_deterministic():
    for seed in (0, 12345, HELDOUT_SEEDS[3]):
        a, b = toy_face(seed), toy_face(seed)
        assert np.array_equal(a.image, b.image) and np.array_equal(a.masks, b.masks)
        assert a.caption == b.caption and a.attributes == b.attributes
    assert not np.array_equal(toy_face(1).image, toy_face(2).image)


def test_attributes_valid_and_varied():
    samples = [sample_attributes(s) for s in range(2000)]
    for key, values in ATTRIBUTES.items():
        seen = {getattr(a, key) for a in samples}
        assert seen == set(values), f"{key}: missing {set(values) - seen}"
    a = samples[0]
    idx = a.as_indices()
    assert list(idx) == list(ATTRIBUTES)
    assert all(ATTRIBUTES[k][i] == getattr(a, k) for k, i in idx.items())
    # Named colours are unambiguous: centres differ by more than twice the jitter in some channel.
    for table, jit in ((HAIR_RGB, COLOR_JITTER["hair"]), (EYE_RGB, COLOR_JITTER["eye"]),
                       (SKIN_RGB, COLOR_JITTER["skin"]), (BACKGROUND_RGB, COLOR_JITTER["background"])):
        for c1, c2 in itertools.combinations(table.values(), 2):
            assert np.abs(np.subtract(c1, c2)).max() > 2 * jit, (c1, c2)
    # Drawn colours stay within the jitter of their named centre, and vary continuously inside it.
    for a in samples[:200]:
        for rgb, centre, jit in ((a.hair_rgb, HAIR_RGB[a.hair_color], COLOR_JITTER["hair"]),
                                 (a.skin_rgb, SKIN_RGB[a.skin_tone], COLOR_JITTER["skin"]),
                                 (a.background_rgb, BACKGROUND_RGB[a.background], COLOR_JITTER["background"])):
            assert np.abs(np.subtract(rgb, centre)).max() <= jit
    assert len({a.hair_rgb for a in samples if a.hair_color == "blond"}) > 50


def test_hidden_attributes():
    a = sample_attributes(0)
    assert "eyes" in dataclasses.replace(a, glasses="sunglasses").hidden_attributes()
    assert "eye_color" in dataclasses.replace(a, glasses="none", eyes="closed").hidden_attributes()
    assert not dataclasses.replace(a, glasses="none", eyes="open", hair_style="long").hidden_attributes()


def _inside(mask: np.ndarray, labels, box) -> bool:
    """All pixels with one of `labels` have their centre inside the normalised box."""
    ys, xs = np.nonzero(np.isin(mask, labels))
    s = mask.shape[0]
    x0, y0, x1, y1 = box
    return bool(((xs + 0.5) / s >= x0).all() and ((xs + 0.5) / s <= x1).all()
                and ((ys + 0.5) / s >= y0).all() and ((ys + 0.5) / s <= y1).all())


def test_fixed_boxes_contain_eyes_and_mouth(faces64):
    for f in faces64:
        assert _inside(f.masks, [L["eyes"], L["glasses"]], EYES_BOX), f.seed
        assert _inside(f.masks, [L["mouth"]], MOUTH_BOX), f.seed
    # The extremes of the pose and proportion ranges, where a random sample rarely goes.
    base = sample_attributes(0)
    for dx, dy, scale, tilt, glasses, mouth in itertools.product(
            (-0.025, 0.025), (-0.025, 0.025), (0.95, 1.05), (-5.0, 5.0), ("round", "sunglasses"), ("open", "smile")):
        a = dataclasses.replace(base, dx=dx, dy=dy, scale=scale, tilt=tilt, glasses=glasses, mouth=mouth,
                                eye_spacing=1.08, eye_size=1.1, mouth_width=1.12)
        _, masks = render(a, size=64)
        assert _inside(masks, [L["eyes"], L["glasses"]], EYES_BOX)
        assert _inside(masks, [L["mouth"]], MOUTH_BOX)


def test_masks_match_attributes(faces64):
    for f in faces64:
        a, present = f.attributes, set(np.unique(f.masks).tolist())
        assert {L["background"], L["skin"], L["mouth"]} <= present
        assert (L["hair"] in present) == (a.hair_style != "bald"), f.seed
        assert (L["glasses"] in present) == (a.glasses != "none"), f.seed
        assert (L["beard"] in present) == (a.beard != "none"), f.seed
        assert (L["eyes"] in present) == (a.glasses != "sunglasses"), f.seed  # closed eyes are drawn too
    # Thin parts survive the 4x reduction at the smallest size as well.
    for s in range(40):
        a = sample_attributes(s)
        _, masks = render(dataclasses.replace(a, glasses="round", eyes="closed"), size=32)
        assert (masks == L["eyes"]).any() and (masks == L["glasses"]).any()


def test_masks_line_up_with_colours(faces64):
    names = list(HAIR_RGB)
    centres = np.array([HAIR_RGB[n] for n in names], dtype=np.float64)
    for f in faces64:
        a = f.attributes
        for part, rgb in (("background", a.background_rgb), ("hair", a.hair_rgb), ("skin", a.skin_rgb),
                          ("clothes", a.clothes_rgb)):
            pixels = f.image[f.masks == L[part]].astype(np.float64)
            if len(pixels) == 0:
                continue
            # Interior pixels have exactly the drawn colour; edges and outlines (many in curly hair) pull the
            # median and the mean away from it a little.
            tol = {"background": 1, "skin": 6, "clothes": 6, "hair": 20}[part]
            assert np.abs(np.median(pixels, axis=0) - rgb).max() <= tol, (f.seed, part)
            assert np.abs(pixels.mean(axis=0) - rgb).max() <= 5 * tol, (f.seed, part)
        if a.hair_style != "bald":
            mean = f.image[f.masks == L["hair"]].reshape(-1, 3).mean(axis=0)
            assert names[np.linalg.norm(centres - mean, axis=1).argmin()] == a.hair_color, f.seed
        if a.glasses == "sunglasses":
            assert np.median(f.image[f.masks == L["glasses"]]) < 60  # dark, opaque lenses


def test_reduce_labels_is_weighted_majority():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, len(PART_LABELS), size=(64, 64)).astype(np.uint8)
    labels[:32] = 2  # uniform blocks too
    blocks = labels.reshape(16, 4, 16, 4).transpose(0, 2, 1, 3).reshape(16, 16, 16)
    votes = np.stack([(blocks == k).sum(-1) * _VOTE[k] for k in range(len(PART_LABELS))], axis=-1)
    assert np.array_equal(reduce_labels(labels), votes.argmax(-1))


def test_captions_are_truthful_and_informative():
    hits = {"smile": [], "sunglasses": [], "beard": [], "closed": []}
    for s in range(400):
        a = sample_attributes(s)
        c = make_caption(a, s).lower()
        # Never claims what is not there (negations like "no glasses" aside).
        bare = re.sub(r"no glasses|no beard|beardless|no hair", "", c)
        if a.glasses == "none":
            assert not re.search(r"glasses|spectacles|shades", bare), c
        if a.beard == "none":
            assert not re.search(r"beard|stubb", bare), c
        if a.hair_style == "bald":
            assert not re.search(r"hair\b|curls|mohawk|bob", bare), c
        if a.mouth != "smile":
            assert "smil" not in c, c
        if a.eyes == "open" or a.glasses == "sunglasses":
            assert "closed" not in c and "shut" not in c, c
        # Mentions what is there most of the time (short captions leave some attributes out).
        if a.mouth == "smile":
            hits["smile"].append("smil" in c or "happy" in c)
        if a.glasses == "sunglasses":
            hits["sunglasses"].append("sunglasses" in c or "shades" in c)
        if a.beard == "full":
            hits["beard"].append("beard" in c)
        if a.eyes == "closed" and a.glasses != "sunglasses":
            hits["closed"].append("closed" in c or "shut" in c)
    for key, found in hits.items():
        assert len(found) > 20 and np.mean(found) > 0.7, key


def test_caption_wording_and_order_vary():
    a = dataclasses.replace(sample_attributes(0), hair_style="long", hair_color="blond", glasses="round",
                            beard="full", mouth="smile", eyes="open")
    captions = [make_caption(a, s) for s in range(60)]
    assert len(set(captions)) > 40
    # Phrase order: the hair phrase comes sometimes before, sometimes after the glasses phrase.
    order = set()
    for c in captions:
        h, g = c.find("hair"), c.find("glasses")
        if h >= 0 and g >= 0:
            order.add(h < g)
    assert order == {True, False}
    # Canonical colour words dominate, synonyms appear too.
    text = " ".join(captions)
    assert text.count("blond ") > text.count("golden") > 0
    # "none" values are sometimes mentioned and sometimes not.
    b = dataclasses.replace(a, glasses="none")
    mentioned = ["no glasses" in make_caption(b, s) for s in range(100)]
    assert any(mentioned) and not all(mentioned)
    # The pieces of common StyleCLIP prompts occur verbatim, and short captions exist.
    pool = [make_caption(sample_attributes(s), s) for s in range(2000)]
    for piece in ("a face with", "blond hair", "purple hair", "a smiling face", "with glasses", "with a beard",
                  "closed eyes"):
        assert any(piece in p for p in pool), piece
    assert sum(len(p.split()) <= 6 for p in pool) > 100


def test_image_tensor_round_trip():
    img = toy_face(3).image
    x = image_to_tensor(img)
    assert x.shape == (3, 64, 64) and x.dtype == torch.float32 and -1 <= x.min() and x.max() <= 1
    assert np.array_equal(tensor_to_image(x), img)
    assert np.array_equal(tensor_to_image(image_to_tensor(img[None]))[0], img)


def test_dataset_item():
    ds = ToyFacesDataset(size=32, seeds=range(100, 110))
    assert len(ds) == 10
    item = ds[2]
    face = toy_face(102, size=32)
    assert item["seed"] == 102 and item["caption"] == face.caption
    assert item["image"].shape == (3, 32, 32) and item["image"].dtype == torch.float32
    assert item["mask"].shape == (32, 32) and item["mask"].dtype == torch.int64
    assert torch.equal(item["mask"], torch.from_numpy(face.masks).long())
    assert item["attributes"].tolist() == list(face.attributes.as_indices().values())
    assert item["attributes"].dtype == torch.int64 and item["attributes"].shape == (len(ATTRIBUTES),)
    bare = ToyFacesDataset(size=32, seeds=range(5), with_masks=False, with_caption=False)[0]
    assert "mask" not in bare and "caption" not in bare


def test_dataloader_workers_are_deterministic():
    ds = ToyFacesDataset(size=32, seeds=range(1000, 1008))
    batches = list(DataLoader(ds, batch_size=4, num_workers=2))
    assert len(batches) == 2 and batches[0]["image"].shape == (4, 3, 32, 32)
    assert batches[0]["seed"].tolist() == [1000, 1001, 1002, 1003]
    for b, batch in enumerate(batches):
        for j in range(4):
            ref = ds[4 * b + j]
            assert torch.equal(batch["image"][j], ref["image"]) and torch.equal(batch["mask"][j], ref["mask"])
            assert batch["caption"][j] == ref["caption"]
            assert torch.equal(batch["attributes"][j], ref["attributes"])


def test_attributes_dataclass_is_frozen():
    a = sample_attributes(0)
    assert isinstance(a, FaceAttributes)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.hair_style = "bald"


def test_cached_faces_are_the_rendered_faces_and_the_file_is_reused(tmp_path):
    from linkgan.data import toy_face
    from linkgan.data.cache import CachedFaces

    seeds = range(100, 106)
    ds = CachedFaces(seeds, size=32, cache_dir=tmp_path)
    assert len(ds) == 6 and ds.path.parent == tmp_path and not list(tmp_path.glob("*.tmp"))
    for i in (0, 5):
        want = torch.from_numpy(toy_face(seeds[i], size=32).image).permute(2, 0, 1).float() / 127.5 - 1
        assert torch.equal(ds[i]["image"], want) and ds[i]["seed"] == seeds[i]
    stamp = ds.path.stat().st_mtime_ns
    again = CachedFaces(seeds, size=32, cache_dir=tmp_path)             # same faces: the same file, not re-rendered
    assert again.path == ds.path and again.path.stat().st_mtime_ns == stamp
    import pickle
    assert torch.equal(pickle.loads(pickle.dumps(again))[3]["image"], ds[3]["image"])   # into DataLoader workers
    np.save(ds.path, np.zeros((2, 32, 32, 3), np.uint8))                # a file that is not what its name says
    with pytest.raises(ValueError, match="delete it to render again"):
        CachedFaces(seeds, size=32, cache_dir=tmp_path)[0]
