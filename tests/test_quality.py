"""Fréchet distance in the segmenter's feature space (linkgan.quality)."""
import numpy as np
import pytest
import torch

from linkgan.quality import (FEATURE_SPACE, fd_breakdown, feature_blocks, frechet_distance, procedural_images,
                             segmenter_features)


def test_frechet_distance_of_gaussians():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4000, 3)), rng.normal(size=(4000, 3))
    assert frechet_distance(a, b) < 0.02                                   # same distribution: ~0
    assert frechet_distance(a, b + [2.0, 0, 0]) == pytest.approx(4.0, abs=0.2)   # mean shift: |d|^2
    assert frechet_distance(a, 3 * b) == pytest.approx(3 * (3 - 1) ** 2, rel=0.05)  # std 1 vs 3 per dim


def test_segmenter_features_separate_faces_from_noise():
    from linkgan.segmenter import Segmenter
    seg = Segmenter.from_pretrained("toyfaces64-segmenter")
    faces = procedural_images(range(64), 64)
    faces2 = procedural_images(range(1000, 1064), 64)
    noise = torch.rand(64, 3, 64, 64) * 2 - 1
    f, f2, fn = (segmenter_features(seg, x, batch_size=32) for x in (faces, faces2, noise))
    assert f.shape == (64, 592) and "592-d" in FEATURE_SPACE
    assert frechet_distance(f, f2) < 0.2 * frechet_distance(f, fn)
    blocks = feature_blocks(seg)                 # the blocks tile the feature vector, deepest 2x2 last
    assert list(blocks) == ["level0", "level1", "level2", "level3", "deep_2x2"]
    assert [sl.start for sl in blocks.values()][1:] == [sl.stop for sl in blocks.values()][:-1]
    assert blocks["level0"].start == 0 and blocks["deep_2x2"].stop == f.shape[1]


def test_fd_breakdown_puts_a_shift_in_its_block_and_the_mean_term():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4000, 4)), rng.normal(size=(4000, 4))
    b[:, 2] += 2.0                                                         # only the second block moves
    parts = fd_breakdown(a, b, {"first": slice(0, 2), "second": slice(2, 4)})
    assert parts["mean_term"] == pytest.approx(4.0, abs=0.2)
    assert parts["blocks"]["first"] < 0.02 and parts["blocks"]["second"] == pytest.approx(4.0, abs=0.2)
