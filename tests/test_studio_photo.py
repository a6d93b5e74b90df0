"""Studio.invert_photo (the app's Photo tab): every method on a tiny generator, the inverted photo as the session's
current image that the region edits then edit, the missing-encoder message, and bad uploads as StudioError."""
import io

import numpy as np
import pytest
import torch
from PIL import Image

from app_server import LINKS
from linkgan.encoder import Encoder, EncoderConfig
from linkgan.networks import Generator, GeneratorConfig
from linkgan.studio import Studio, StudioError


@pytest.fixture(scope="module")
def studio():
    """A tiny linked generator (box links only: no segmenter needed) with a tiny, untrained encoder for it."""
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(resolution=32, z_dim=32, w_dim=32, n_mlp=2, channel_base=256, channel_max=32))
    G.metadata = {"links": [link for link in LINKS if "box" in link]}
    s = Studio(G, name="tiny")
    E = Encoder(EncoderConfig.for_generator(G, channel_base=128, channel_max=16)).set_w_avg(G.w_avg)
    s.use_encoder(E, lpips=None)                 # MSE only: no LPIPS backbone to build in a unit test
    return s


@pytest.fixture(scope="module")
def photo(studio) -> bytes:
    """A PNG of one of the generator's own faces, upscaled and in RGBA, as an upload would be."""
    img = studio.render(studio.map_seed(4, 0.7)).resize((90, 90), Image.Resampling.BICUBIC).convert("RGBA")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def mse(studio, session, photo) -> float:
    x = studio.fit_photo(photo)
    y = studio._synthesize(studio.current_ws(session))
    return float((x - y).square().mean())


@pytest.mark.parametrize("method,steps", [("encoder", 0), ("optimize", 30), ("hybrid", 10)])
def test_each_method_starts_a_session_from_the_photo(studio, photo, method, steps):
    calls = []
    s = studio.invert_photo(studio.new_session(), photo, method, steps, progress=lambda *a: calls.append(a))
    ws = studio.current_ws(s)
    assert ws.shape == (studio.G.num_ws, 32) and np.isfinite(ws).all()
    assert s["source"]["kind"] == "photo" and s["source"]["method"] == method and s["edits"] == []
    assert s["source"]["steps"] == steps and len(calls) == steps
    assert s["source"]["space"] == ("w" if method == "optimize" else "w+")     # hybrid refines the encoder's W+
    if steps:                                          # (the untrained tiny encoder's offsets are still zero)
        assert np.array_equal(ws[0], ws[-1]) == (method == "optimize")
        assert calls[-1][:2] == (steps, steps) and s["source"]["loss"] == pytest.approx(calls[-1][2], abs=1e-4)
    assert studio.image(s).size == (32, 32)
    assert studio.history(s)[0].startswith('start: {"kind": "photo"')
    assert "perceptual" not in s["source"] and studio.perceptual_warning(s) is None      # MSE only: no backbone


def test_the_perceptual_backbone_is_named_and_a_random_one_is_a_warning(studio, photo):
    from linkgan.perceptual import load_lpips
    s = Studio(studio.G, name="tiny")
    s.use_encoder(None, lpips="alex")
    session = s.invert_photo(s.new_session(), photo, "optimize", 2)
    backbone = load_lpips("alex").backbone_name          # "alexnet-random (pnet_rand)" offline without weights
    assert session["source"]["perceptual"] == backbone
    warning = s.perceptual_warning(session)
    assert (warning is not None) == ("random" in backbone)
    if warning:
        assert "RANDOM backbone" in warning and "alexnet-owt-7be5be79.pth" in warning


def test_optimisation_fits_the_photo_and_edits_apply(studio, photo):
    start = studio.invert_photo(studio.new_session(), photo, "optimize", 1)
    fitted = studio.invert_photo(studio.new_session(), photo, "optimize", 60)
    assert mse(studio, fitted, photo) < mse(studio, start, photo)
    edited = studio.region(fitted, ["eyes"], 9, 1.0)                 # the region tab edits the inverted photo
    assert len(edited["edits"]) == 1
    assert not np.array_equal(studio.current_ws(edited), studio.current_ws(fitted))
    back = studio.load_latent(studio.save_latent(edited))          # and its latent file reproduces it exactly
    assert np.array_equal(np.asarray(studio.image(back)), np.asarray(studio.image(edited)))


def test_cancel_keeps_the_code_so_far(studio, photo):
    s = studio.invert_photo(studio.new_session(), photo, "optimize", 50, should_stop=lambda: True)
    assert s["source"]["steps"] == 0 and s["source"]["stopped"] == "cancelled"


def test_without_an_encoder_the_message_says_use_optimize(studio, photo):
    G = studio.G
    bare = Studio(G, name="tiny")                              # "auto": only the default generator has one
    with pytest.raises(StudioError, match="no encoder for this generator.*use the optimize method"):
        bare.invert_photo(bare.new_session(), photo, "hybrid", 5)
    other = Studio(G, name="tiny")
    E = Encoder(EncoderConfig.for_generator(G, channel_base=128, channel_max=16)).set_w_avg(G.w_avg + 1.0)
    other.use_encoder(E, lpips=None)
    with pytest.raises(StudioError, match="trained for another generator"):
        other.invert_photo(other.new_session(), photo, "encoder")
    missing = Studio(G, name="tiny")
    missing.use_encoder("/nonexistent/encoder-folder", lpips=None)
    with pytest.raises(StudioError, match="not trained yet: use the optimize method"):
        missing.invert_photo(missing.new_session(), photo, "encoder")


def test_a_generator_folder_with_an_encoder_uses_it(studio, photo, tmp_path):
    """"auto" finds <generator folder>/encoder, as training/recipes/toyfaces64.sh zoo lays it out."""
    G = studio.G
    E = Encoder(EncoderConfig.for_generator(G, channel_base=128, channel_max=16)).set_w_avg(G.w_avg)
    E.save_pretrained(tmp_path / "encoder")
    s = Studio(G, name=str(tmp_path))
    s.use_encoder("auto", lpips=None)
    assert s.encoder_problem() is None
    session = s.invert_photo(s.new_session(), photo, "encoder")
    assert session["source"]["space"] == "w+"
    assert "no encoder" in Studio(G, name=str(tmp_path / "elsewhere")).encoder_problem()


def test_bad_uploads_and_values_are_clear_errors(studio, photo, tmp_path):
    png = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(png, format="PNG")
    cases = {b"": "empty", b"%PDF-1.4 not a picture": "not an image", png.getvalue()[:60]: "cannot",
             None: "upload a photo"}
    for data, message in cases.items():
        with pytest.raises(StudioError, match=message):
            studio.invert_photo(studio.new_session(), data, "optimize", 5)
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (1, 1)).save(tiny)
    with pytest.raises(StudioError, match="too small"):
        studio.invert_photo(studio.new_session(), str(tiny), "optimize", 5)
    with pytest.raises(StudioError, match="method must be one of"):
        studio.invert_photo(studio.new_session(), photo, "magic", 5)
    with pytest.raises(StudioError, match="steps must be between"):
        studio.invert_photo(studio.new_session(), photo, "optimize", 0)
    with pytest.raises(StudioError, match="lpips must be"):
        studio.use_encoder(None, lpips="squeeze")
    studio.invert_photo(studio.new_session(), photo, "encoder")    # and it keeps working
