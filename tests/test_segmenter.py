"""Tests of the toy-faces part segmenter (linkgan/segmenter.py): shapes, input checks, the mIoU metric,
save -> load, and the shipped checkpoint's held-out accuracy."""
from __future__ import annotations

import pytest
import torch

from linkgan.hub import CHECKPOINTS_DIR, CONFIG_NAME
from linkgan.segmenter import Segmenter, SegmenterConfig, augment, evaluate, heldout_faces, miou

SHIPPED = CHECKPOINTS_DIR / "toyfaces64-segmenter"


@pytest.fixture
def tiny() -> Segmenter:
    torch.manual_seed(0)
    return Segmenter(SegmenterConfig(resolution=16, labels=("a", "b", "c"), channels=(4, 8, 8))).eval()


@pytest.mark.parametrize("hw", [(16, 16), (8, 24), (32, 16)])
def test_shapes_any_multiple_of_the_stride(tiny, hw):
    x = torch.rand(2, 3, *hw) * 2 - 1
    logits = tiny(x)
    assert logits.shape == (2, 3, *hw)
    labels = tiny.predict(x)
    assert labels.shape == (2, *hw) and labels.dtype == torch.int64
    assert torch.equal(labels, logits.argmax(1))


def test_default_model_shape_and_predict_restores_mode():
    m = Segmenter().train()
    x = torch.zeros(1, 3, 64, 64)
    assert m.predict(x).shape == (1, 64, 64)
    assert m.training                                      # predict() ran in eval mode, then restored it


@pytest.mark.parametrize("shape", [(3, 16, 16), (2, 1, 16, 16), (2, 3, 14, 16), (2, 3, 16, 18)])  # tiny: multiples of 4
def test_bad_input_shapes_raise(tiny, shape):
    with pytest.raises(ValueError, match="Segmenter"):
        tiny(torch.zeros(shape))
    with pytest.raises(ValueError, match="Segmenter"):
        tiny.predict(torch.zeros(shape))


def test_integer_images_rejected(tiny):
    with pytest.raises(ValueError, match="float"):
        tiny(torch.zeros(1, 3, 16, 16, dtype=torch.uint8))


def test_bad_config():
    with pytest.raises(ValueError):
        SegmenterConfig(resolution=60)                     # not a multiple of 8
    with pytest.raises(ValueError):
        SegmenterConfig(labels=("only",))


def test_miou_perfect_and_wrong():
    target = torch.tensor([[0, 0, 1, 1], [0, 2, 2, 1]])
    mean, per = miou(target.clone(), target, 4)
    assert mean == 1.0 and per == {0: 1.0, 1: 1.0, 2: 1.0}  # label 3 absent from both: left out
    pred = target.clone()
    pred[0, 0] = 1                                         # one background pixel called label 1
    mean, per = miou(pred, target, 4)
    assert per[0] == pytest.approx(2 / 3) and per[1] == pytest.approx(3 / 4) and per[2] == 1.0
    assert mean == pytest.approx((2 / 3 + 3 / 4 + 1) / 3)
    pred[0, 1] = 3                                         # a label only in pred counts, with IoU 0
    mean, per = miou(pred, target, 4)
    assert per[3] == 0.0 and mean < 0.75


def test_miou_errors():
    with pytest.raises(ValueError, match="shape"):
        miou(torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="labels"):
        miou(torch.full((2, 2), 5), torch.zeros(2, 2, dtype=torch.long), 2)


def test_save_load_round_trip(tiny, tmp_path):
    # non-trivial BatchNorm statistics, so a lost buffer shows
    tiny.train()
    with torch.no_grad():
        for _ in range(3):
            tiny(torch.randn(4, 3, 16, 16))
    tiny.eval()
    loaded = Segmenter.from_pretrained(tiny.save_pretrained(tmp_path / "seg"))
    assert loaded.config == tiny.config
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert torch.equal(loaded(x), tiny(x))


def test_augment_keeps_shape_and_range():
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    y = augment(x, torch.Generator().manual_seed(0))
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1 and not torch.equal(x, y)


@pytest.mark.skipif(not (SHIPPED / CONFIG_NAME).is_file(), reason=f"no shipped checkpoint at {SHIPPED}")
def test_shipped_checkpoint_is_accurate_on_heldout_faces():
    model = Segmenter.from_pretrained("toyfaces64-segmenter")
    images, masks = heldout_faces(32)
    mean, per = evaluate(model, images, masks)
    assert mean >= 0.8, per


def test_train_segmenter_tiny_run_writes_a_loadable_model_card(tmp_path):
    from linkgan.segmenter import train_segmenter

    cfg = SegmenterConfig(resolution=16, channels=(4, 8))
    run = train_segmenter(out=tmp_path / "seg", steps=2, batch_size=2, log_every=1, device="cpu", config=cfg,
                          eval_faces=4, num_workers=0, command="pytest", log=lambda msg: None)
    assert run.steps == 2 and 0.0 <= run.miou <= 1.0
    for name in ("config.json", "model.safetensors", "README.md", "samples.png", "train_log.txt"):
        assert (tmp_path / "seg" / name).is_file(), name
    assert "pytest" in (tmp_path / "seg" / "README.md").read_text()
    from huggingface_hub import ModelCard
    assert ModelCard.load(tmp_path / "seg" / "README.md").data.pipeline_tag == "image-segmentation"
    assert Segmenter.from_pretrained(tmp_path / "seg").config == cfg
