"""Every feature of the app's service on every device this machine has: the CPU always, and CUDA where a GPU is
(a GPU Space runs `python app.py --device auto`). On the CPU this checks the walk itself; on a GPU it checks that
every model and tensor lands on the GPU (a tensor left on the CPU fails loudly there)."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from app_server import MAPPER_PROMPT, PRESET_TARGETS, tiny_linked_generator

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(scope="module")
def tiny_zoo(tmp_path_factory):
    return tiny_linked_generator(tmp_path_factory.mktemp("devices") / "tiny-linked")


def _modules(studio):
    """Every torch module the Studio holds once its features have run (networks, CLIP, mappers, the encoder)."""
    found = []
    seen = set()

    def visit(obj, depth=0):
        if id(obj) in seen or depth > 3:
            return
        seen.add(id(obj))
        if isinstance(obj, torch.nn.Module):
            found.append(obj)
            return
        if isinstance(obj, dict):
            for v in obj.values():
                visit(v, depth + 1)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            for v in vars(obj).values():
                visit(v, depth + 1)
    visit(studio)
    return found


@pytest.mark.parametrize("device", DEVICES)
def test_every_feature_runs_on_the_device(tiny_zoo, device):
    from linkgan.studio import Studio

    studio = Studio.load(str(tiny_zoo), device=device)
    studio.use_encoder("none", lpips=None)
    s = studio.generate(3, 0.7)
    s = studio.region(s, ["eyes"], 7, 1.0)
    assert isinstance(studio.region_overlay(s, ["eyes", "hair"]), Image.Image)
    s = studio.text_global(s, PRESET_TARGETS[0])
    s = studio.text_mapper(s, MAPPER_PROMPT, 0.1)
    s = studio.text_optimize(s, "a face with red hair", 2)
    for method in ("ganspace", "sefa"):
        s = studio.explore(s, method, 0, 1.0)
    img = studio.image(s)
    assert isinstance(img, Image.Image) and np.asarray(img).std() > 0
    restored = studio.load_latent(studio.save_latent(s))
    assert np.array_equal(np.asarray(studio.image(restored)), np.asarray(img))
    photo = io.BytesIO()
    img.save(photo, format="PNG")
    p = studio.invert_photo(studio.new_session(), photo.getvalue(), "optimize", 2)
    assert isinstance(studio.image(p), Image.Image)
    want = torch.device(device).type
    for module in _modules(studio):
        for t in [*module.parameters(), *module.buffers()]:
            assert t.device.type == want, f"{type(module).__name__} has a tensor on {t.device}"


@pytest.mark.parametrize("device", DEVICES)
def test_the_3d_page_runs_on_the_device(tmp_path, device):
    from app_server import tiny_generator3d
    from linkgan.studio.heads import Studio3D

    studio = Studio3D.load(str(tiny_generator3d(tmp_path / "tiny-3d")), device=device)
    s = studio.region(studio.generate(3, 0.7), ["mouth"], 7, 1.0)
    assert studio.view(s, 20, -10).size == (studio.resolution,) * 2
    assert Image.open(io.BytesIO(studio.turntable_gif(s, frames=3))).n_frames == 3
    assert studio.load_latent(studio.save_latent(s))["base"] is not None
    for m in _modules(studio):
        assert all(p.device.type == device for p in m.parameters()), f"{type(m).__name__} not on {device}"
