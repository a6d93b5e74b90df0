"""`python -m linkgan invert` and `resample --latent` on a tiny linked generator and a tiny encoder."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from linkgan import cli
from linkgan.encoder import Encoder, EncoderConfig
from linkgan.inversion import load_code
from linkgan.networks import Generator, GeneratorConfig
from linkgan.utils import to_uint8

TINY = GeneratorConfig(resolution=16, z_dim=32, w_dim=32, n_mlp=2, channel_base=256, channel_max=16)
LINKS = [{"name": "eyes", "axes": [0, 8], "box": [0.25, 0.33, 0.75, 0.58]}]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    G = Generator(TINY)
    G.save_pretrained(root / "g", extra={"links": LINKS})
    Encoder(EncoderConfig.for_generator(G, channel_base=256, channel_max=16)).set_w_avg(G.w_avg).save_pretrained(root / "e")
    photo = root / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(photo)
    return root, photo


def test_invert_writes_a_code_and_a_reconstruction(models, tmp_path, capsys):
    root, photo = models
    out, recon = tmp_path / "code.npz", tmp_path / "recon.png"
    assert cli.main(["invert", str(photo), "--method", "hybrid", "--model", str(root / "g"), "--encoder",
                     str(root / "e"), "--steps", "3", "--lpips", "none", "--out", str(out), "--recon", str(recon)]) == 0
    from linkgan.networks import Generator
    code = load_code(out, Generator.from_pretrained(str(root / "g")))
    assert code["ws"].shape == (1, 6, 32) and code["meta"]["generator"] == str(root / "g")
    assert code["meta"]["source"] == {"kind": "photo", "method": "hybrid", "space": "w+", "steps": 3,
                                      "loss": code["meta"]["source"]["loss"]}
    assert np.asarray(Image.open(recon)).shape == (16, 16, 3)
    assert "hybrid code" in capsys.readouterr().out
    assert cli.main(["invert", str(photo), "--method", "encoder", "--model", str(root / "g"), "--encoder",
                     str(root / "e"), "--out", str(tmp_path / "enc.npz")]) == 0


def test_invert_reports_user_errors(models, tmp_path, capsys):
    root, photo = models
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    assert cli.main(["invert", str(bad), "--model", str(root / "g"), "--out", str(tmp_path / "c.npz")]) == 2
    assert "not an image" in capsys.readouterr().err
    assert cli.main(["invert", str(photo), "--model", str(root / "g"), "--encoder", str(tmp_path / "none"),
                     "--out", str(tmp_path / "c.npz")]) == 2
    assert "encoder not trained yet" in capsys.readouterr().err


def test_resample_edits_an_inverted_code(models, tmp_path, capsys):
    """W and W+ codes are edited as inverted: t = 0 is the inverted face itself, t = 1 changes it."""
    root, photo = models
    G = Generator.from_pretrained(root / "g")
    w = G.map(torch.randn(1, 32, generator=torch.Generator().manual_seed(3)))
    for name, ws in (("w.npz", G.broadcast(w)), ("wplus.npz", G.broadcast(w) + torch.randn(1, 6, 32) * 0.1)):
        np.savez(tmp_path / name, ws=ws.numpy())
        out = tmp_path / f"{name}.png"
        assert cli.main(["resample", "--model", str(root / "g"), "--link", "eyes", "--latent", str(tmp_path / name),
                         "--new-seed", "7", "--t", "0", "1", "--out", str(out)]) == 0
        assert f"code {tmp_path / name}" in capsys.readouterr().out
        strip = np.asarray(Image.open(out)).astype(int)
        with torch.no_grad():
            orig = to_uint8(G.synthesize(ws, noise_mode="const"))[0].astype(int)
        assert np.abs(strip[:, :16] - orig).max() <= 1                         # t = 0: the code's own face
        assert np.abs(strip[:, 16:] - strip[:, :16]).max() > 0                # t = 1: edited
    np.savez(tmp_path / "wrong.npz", ws=np.zeros((1, 4, 32), np.float32))
    assert cli.main(["resample", "--model", str(root / "g"), "--link", "eyes", "--latent", str(tmp_path / "wrong.npz"),
                     "--new-seed", "7", "--out", str(tmp_path / "x.png")]) == 2
    assert "same --model" in capsys.readouterr().err


def test_one_latent_file_for_the_app_and_the_command_line(models, tmp_path):
    """An app session's latent file edits on the command line from the same image, and a code the command line
    inverted opens in the app as the same image: one format, read and written by the same two functions."""
    from linkgan.studio import Studio
    root, photo = models
    studio = Studio.load(str(root / "g"), clip=None)
    session = studio.region(studio.generate(4, 0.8), ["eyes"], 9, 0.5)            # an edited face
    app_file = tmp_path / "app.npz"
    app_file.write_bytes(studio.save_latent(session))
    out = tmp_path / "strip.png"
    assert cli.main(["resample", "--model", str(root / "g"), "--link", "eyes", "--latent", str(app_file),
                     "--new-seed", "7", "--t", "0", "--out", str(out)]) == 0
    assert np.abs(np.asarray(Image.open(out)).astype(int) - np.asarray(studio.image(session)).astype(int)).max() <= 1
    code = tmp_path / "code.npz"
    assert cli.main(["invert", str(photo), "--method", "encoder", "--model", str(root / "g"), "--encoder",
                     str(root / "e"), "--out", str(code), "--recon", str(tmp_path / "recon.png")]) == 0
    opened = studio.load_latent(code.read_bytes())
    assert opened["source"]["source"]["method"] == "encoder"
    G = Generator.from_pretrained(root / "g")
    with torch.no_grad():
        ws = torch.from_numpy(studio.current_ws(opened))[None]
        expect = to_uint8(G.synthesize(ws, noise_mode="const"))[0].astype(int)
    assert np.abs(np.asarray(studio.image(opened)).astype(int) - expect).max() <= 1
