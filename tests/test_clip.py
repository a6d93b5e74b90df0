"""Tests of the CLIP adapter (linkgan/clip.py) on a tiny random open_clip model (custom config, no weights
downloaded): differentiable preprocessing equals open_clip's PIL transform, gradients reach W+, prompts are
checked rather than truncated, and project / hf-hub: folders load strictly and offline."""
from __future__ import annotations

import huggingface_hub.constants
import numpy as np
import open_clip
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from linkgan.clip import (OPEN_CLIP_CONFIG, OPEN_CLIP_WEIGHTS, CLIPAdapter, build_open_clip, clip_loss,
                          preprocess_images, save_project_clip)
from linkgan.data import toy_face
from linkgan.hub import WeightsFormatError
from linkgan.networks import Generator

# 32 px ViT with 8 px patches, 1-layer 32-wide text tower, context 16: random weights, built in ~0.1 s.
TINY_CLIP_CFG = {
    "embed_dim": 24,
    "vision_cfg": {"image_size": 32, "patch_size": 8, "width": 32, "layers": 1, "head_width": 16, "mlp_ratio": 2.0},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TINY_PREPROCESS = {"size": 32, "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3], "interpolation": "bicubic",
                   "resize_mode": "shortest", "fill_color": 0}
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def tiny_clip_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_open_clip(TINY_CLIP_CFG)
    from open_clip.model import set_model_preprocess_cfg
    set_model_preprocess_cfg(model, dict(TINY_PREPROCESS))
    return model


@pytest.fixture(scope="module")
def tiny_clip() -> CLIPAdapter:
    tok = open_clip.get_tokenizer("ViT-B-32", context_length=TINY_CLIP_CFG["text_cfg"]["context_length"])
    return CLIPAdapter(tiny_clip_model(), tok, name="tiny", templates="imagenet-simple").to("cpu")


def pil_reference(image: np.ndarray, size: int, mean, std, resize_mode: str) -> torch.Tensor:
    """open_clip's own eval transform (PIL resize + crop, ToTensor, Normalize) on a uint8 image."""
    tf = open_clip.image_transform(size, is_train=False, mean=mean, std=std, resize_mode=resize_mode,
                                   interpolation="bicubic")
    return tf(Image.fromarray(image))


# Tolerance: PIL resizes uint8 images and rounds the result to uint8 (<= 0.5/255 per pixel) and uses fixed-point
# kernels; torch resizes in float with the same antialiased bicubic (a = -0.5). Measured max |diff| <= 1.1/255 in
# [0, 1] units; we allow 2.5/255 max and 0.5/255 mean, divided by the smallest std (normalised units).
@pytest.mark.parametrize("shape,size,mode", [((64, 64), 224, "shortest"), ((96, 80), 64, "shortest"),
                                             ((72, 96), 32, "shortest"), ((80, 64), 48, "squash")])
def test_preprocess_matches_open_clip_pil_transform(shape, size, mode):
    face = toy_face(7, size=128).image
    img = np.ascontiguousarray(face[(128 - shape[0]) // 2:(128 + shape[0]) // 2, (128 - shape[1]) // 2:
                                    (128 + shape[1]) // 2])
    mean, std = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
    ref = pil_reference(img, size, mean, std, mode)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 127.5 - 1.0
    ours = preprocess_images(x, size=size, mean=mean, std=std, resize_mode=mode)[0]
    assert ours.shape == ref.shape
    diff = (ours - ref).abs() * min(std)
    assert float(diff.max()) <= 2.5 / 255, float(diff.max()) * 255
    assert float(diff.mean()) <= 0.5 / 255, float(diff.mean()) * 255


def test_adapter_reads_size_and_normalisation_from_the_model(tiny_clip):
    assert tiny_clip.image_size == (32, 32)
    cfg = tiny_clip.preprocess_cfg
    assert list(cfg["mean"]) == TINY_PREPROCESS["mean"] and list(cfg["std"]) == TINY_PREPROCESS["std"]
    x = torch.zeros(2, 3, 16, 16)                       # mid-grey: 0.5 in [0, 1]
    y = tiny_clip.preprocess(x)
    assert y.shape == (2, 3, 32, 32)
    want = (0.5 - torch.tensor(TINY_PREPROCESS["mean"])) / torch.tensor(TINY_PREPROCESS["std"])
    assert torch.allclose(y[0, :, 5, 5], want, atol=1e-5)


def test_clip_loss_gradient_reaches_ws(tiny_clip, tiny_g_config):
    torch.manual_seed(0)
    G = Generator(tiny_g_config).eval().requires_grad_(False)
    ws = G.broadcast(G.map(torch.randn(2, tiny_g_config.z_dim))).detach().clone().requires_grad_(True)
    t = tiny_clip.text_embedding("a face with blond hair")
    loss = clip_loss(tiny_clip, G.synthesize(ws, noise_mode="const"), t)
    assert loss.shape == (2,) and bool(((loss >= 0) & (loss <= 2)).all())
    loss.sum().backward()
    assert ws.grad is not None and float(ws.grad.abs().sum()) > 0
    assert not any(p.grad is not None for p in tiny_clip.parameters())      # CLIP stays frozen


def test_text_embedding_is_an_ensemble_and_cached(tiny_clip):
    from open_clip.zero_shot_metadata import SIMPLE_IMAGENET_TEMPLATES

    e = tiny_clip.text_embedding("a smiling face")
    assert e.shape == (24,) and abs(float(e.norm()) - 1) < 1e-5
    assert tiny_clip.text_embedding("a smiling face") is e                           # cached
    manual = torch.nn.functional.normalize(
        tiny_clip.encode_text([t("a smiling face") for t in SIMPLE_IMAGENET_TEMPLATES]).mean(0), dim=0)
    assert torch.allclose(e, manual, atol=1e-6)
    plain = tiny_clip.text_embedding("a smiling face", templates="none")
    assert torch.allclose(plain, tiny_clip.encode_text(["a smiling face"])[0], atol=1e-6)
    d = tiny_clip.text_direction("a face", "a smiling face")
    assert abs(float(d.norm()) - 1) < 1e-5


@pytest.mark.parametrize("prompt", ["", "   "])
def test_empty_prompt_is_rejected(tiny_clip, prompt):
    with pytest.raises(ValueError, match="empty prompt"):
        tiny_clip.text_embedding(prompt)


def test_too_long_prompt_is_rejected_not_truncated(tiny_clip):
    long = "a face with " + " and ".join(["blond hair"] * 10)
    with pytest.raises(ValueError, match=r"tokens; .* at most 16"):
        tiny_clip.text_embedding(long)
    with pytest.raises(ValueError, match="at most 16"):
        tiny_clip.tokenize([long])
    assert tiny_clip.token_count("a face") == 4             # start + 2 words + end


def test_project_folder_round_trip_and_strict_load(tmp_path):
    model = tiny_clip_model()
    folder = save_project_clip(model, tmp_path / "clip", model_cfg=TINY_CLIP_CFG, preprocess_cfg=TINY_PREPROCESS,
                               meta={"templates": "toyfaces"})
    clip = CLIPAdapter.load(folder, device="cpu")
    assert clip.templates == "toyfaces" and clip.context_length == 16 and clip.image_size == (32, 32)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    ref = CLIPAdapter(model, clip.tokenizer)
    assert torch.equal(clip.encode_image(x), ref.encode_image(x))
    # open_clip reads the same folder on its own (its local-dir: layout)
    oc = open_clip.create_model(f"local-dir:{folder}")
    assert torch.allclose(oc.encode_image(clip.preprocess(x)), clip.model.encode_image(clip.preprocess(x)), atol=1e-6)
    # a missing tensor is an error naming it, not a silent partial load
    state = load_file(str(folder / OPEN_CLIP_WEIGHTS))
    del state["logit_scale"]
    save_file(state, str(folder / OPEN_CLIP_WEIGHTS))
    with pytest.raises(WeightsFormatError, match="logit_scale"):
        CLIPAdapter.load(folder, device="cpu")


def test_hf_hub_id_loads_offline_from_local_cache(tmp_path, monkeypatch):
    """open_clip's hf-hub: loader needs open_clip_config.json ({"model_cfg", "preprocess_cfg"}) and
    open_clip_model.safetensors (or open_clip_pytorch_model.bin) in the repo; here in a local Hub cache."""
    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    repo = cache / "models--linkgan--tiny-clip"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    model = tiny_clip_model()
    snap = save_project_clip(model, repo / "snapshots" / COMMIT, model_cfg=TINY_CLIP_CFG,
                             preprocess_cfg=TINY_PREPROCESS)
    assert sorted(p.name for p in snap.iterdir()) == [OPEN_CLIP_CONFIG, OPEN_CLIP_WEIGHTS]
    clip = CLIPAdapter.load("hf-hub:linkgan/tiny-clip", device="cpu")
    assert clip.image_size == (32, 32) and list(clip.preprocess_cfg["std"]) == TINY_PREPROCESS["std"]
    assert clip.context_length == 16
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    assert torch.allclose(clip.encode_image(x), CLIPAdapter(model, clip.tokenizer).encode_image(x), atol=1e-6)
    with pytest.raises(RuntimeError, match="'hf-hub:linkgan/not-in-cache'.*set HF_HUB_OFFLINE=0 to download it"):
        CLIPAdapter.load("hf-hub:linkgan/not-in-cache", device="cpu")


@pytest.mark.parametrize("name, tag, quick", [("ViT-B-32", "openai", True), ("ViT-B-32", "laion2b_s34b_b79k", False),
                                               ("ViT-B-32", None, False), ("hf-hub:timm/x", "openai", False)])
def test_a_pretrained_tag_gets_the_activation_its_weights_were_trained_with(name, tag, quick):
    """OpenAI's weights need QuickGELU, which the plain "ViT-B-32" config leaves out (open_clip only warns)."""
    from linkgan.clip import open_clip_model_kwargs

    assert open_clip_model_kwargs(name, tag) == ({"force_quick_gelu": True} if quick else {})
    if quick:
        model = open_clip.create_model(name, pretrained=None, **open_clip_model_kwargs(name, tag))
        assert any(type(m).__name__ == "QuickGELU" for m in model.modules())


def test_open_clip_names_carry_their_weights():
    """"ViT-B-32/openai" names architecture and tag; a bare architecture would be a random CLIP, so it is refused."""
    from linkgan.clip import split_open_clip_name

    assert split_open_clip_name("ViT-B-32/openai", None) == ("ViT-B-32", "openai")
    assert split_open_clip_name("ViT-B-32", "openai") == ("ViT-B-32", "openai")
    assert split_open_clip_name("hf-hub:timm/vit_base_patch32_clip_224.openai", None)[1] is None
    with pytest.raises(ValueError, match="'ViT-B-32' is an open_clip architecture with no weights named.*openai"):
        CLIPAdapter.load("ViT-B-32", device="cpu")


def test_registered_clip_absent_says_not_trained(tmp_path):
    from linkgan.hub import WeightsNotFoundError

    with pytest.raises(WeightsNotFoundError, match="not trained yet"):
        CLIPAdapter.load("toyfaces-clip", checkpoints_dir=tmp_path, device="cpu")


SHIPPED = __import__("pathlib").Path(__file__).resolve().parent.parent / "checkpoints" / "toyfaces-clip"


@pytest.mark.skipif(not (SHIPPED / OPEN_CLIP_CONFIG).is_file(), reason="toyfaces-clip not trained yet")
def test_shipped_toy_clip_reads_hair_colour_of_heldout_faces():
    """The shipped CLIP ranks the true hair colour above the others on held-out faces (a behaviour, not a number)."""
    from linkgan.data import HELDOUT_SEEDS, toy_face

    clip = CLIPAdapter.load("toyfaces-clip", device="cpu")
    assert clip.image_size == (64, 64) and clip.context_length == 48 and clip.templates == "toyfaces"
    faces = [toy_face(s) for s in HELDOUT_SEEDS[:40]]
    faces = [f for f in faces if "hair_color" not in f.attributes.hidden_attributes()]
    colours = ["black", "brown", "blond", "red", "grey", "purple", "blue"]
    text = torch.stack([clip.text_embedding(f"a face with {c} hair") for c in colours])
    images = torch.stack([torch.from_numpy(f.image).permute(2, 0, 1).float() / 127.5 - 1 for f in faces])
    with torch.no_grad():
        pred = (clip.encode_image(images) @ text.T).argmax(1)
    truth = torch.tensor([colours.index(f.attributes.hair_color) for f in faces])
    assert float((pred == truth).float().mean()) >= 0.6
