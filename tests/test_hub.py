"""Tests of weights I/O (linkgan/hub.py): save -> load is exact, names resolve (folder, checkpoints dir,
registry, offline Hugging Face Hub cache), and every kind of damaged weight set fails with a clear message."""
from __future__ import annotations

import json
import time
from pathlib import Path

import huggingface_hub.constants
import pytest
import torch
from safetensors.torch import load_file, save_file

from linkgan.hub import (CONFIG_NAME, REGISTRY, WEIGHTS_NAME, WeightsFormatError, WeightsNotFoundError,
                         resolve)
from linkgan.layers import NoiseInjection
from linkgan.networks import Discriminator, DiscriminatorConfig, Generator

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def gen(tiny_g_config) -> Generator:
    """A tiny generator whose buffers and noise strengths are all non-trivial, so a lost tensor shows."""
    torch.manual_seed(0)
    g = Generator(tiny_g_config).eval()
    with torch.no_grad():
        g.w_avg.copy_(torch.randn(g.config.w_dim))
        for m in g.modules():
            if isinstance(m, NoiseInjection):
                m.weight.fill_(0.2)
    return g


@pytest.fixture
def saved(gen, tmp_path) -> Path:
    return gen.save_pretrained(tmp_path / "gen")


@pytest.fixture
def hermetic(tmp_path, monkeypatch):
    """Work in an empty directory, with the Hub cache pointed at an empty folder and offline mode forced."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache


def images(g: Generator) -> torch.Tensor:
    with torch.no_grad():
        return g(g.z_from_seeds([0, 1, 2]), psi=0.7, noise_mode="const")


def assert_same_generator(a: Generator, b: Generator) -> None:
    assert a.config == b.config
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    assert torch.equal(images(a), images(b))


# --- round trip -----------------------------------------------------------------------------------------

def test_generator_round_trip_is_exact(gen, saved):
    assert (saved / CONFIG_NAME).is_file() and (saved / WEIGHTS_NAME).is_file()
    meta = json.loads((saved / CONFIG_NAME).read_text())
    assert meta["model_type"] == "Generator"
    assert meta["config"]["resolution"] == 16 and meta["config"]["channel_max"] == 16
    assert meta["config"]["blur_taps"] == [1, 3, 3, 1]
    loaded = Generator.from_pretrained(saved)
    assert not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    assert_same_generator(gen, loaded)


def test_discriminator_round_trip_is_exact(tmp_path):
    torch.manual_seed(1)
    d = Discriminator(DiscriminatorConfig(resolution=16, channel_base=256, channel_max=16, mbstd_group=2)).eval()
    folder = d.save_pretrained(tmp_path / "disc")
    meta = json.loads((folder / CONFIG_NAME).read_text())
    assert meta["model_type"] == "Discriminator" and meta["config"]["mbstd_group"] == 2
    loaded = Discriminator.from_pretrained(str(folder))
    assert not loaded.training
    assert loaded.config == d.config
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded(x), d(x))


def test_extra_metadata_round_trips(gen, tmp_path):
    folder = gen.save_pretrained(tmp_path / "g", extra={"kimg": 12, "dataset": "toyfaces"})
    assert Generator.from_pretrained(folder).metadata == {"kimg": 12, "dataset": "toyfaces"}


# --- name resolution ------------------------------------------------------------------------------------

def test_half_precision_save_keeps_buffers_exact(gen, tmp_path):
    """dtype=float16 halves the file: parameters are stored in fp16, statistics such as w_avg stay exact."""
    with torch.no_grad():
        gen.w_avg.normal_()                               # a w_avg that fp16 cannot hold exactly
    gen.save_pretrained(tmp_path / "half", dtype=torch.float16)
    stored = load_file(str(tmp_path / "half" / WEIGHTS_NAME))
    assert stored["w_avg"].dtype == torch.float32 and torch.equal(stored["w_avg"], gen.w_avg)
    params = dict(gen.named_parameters())
    assert all(stored[k].dtype == torch.float16 for k in params)
    back = Generator.from_pretrained(tmp_path / "half")
    assert torch.equal(back.w_avg, gen.w_avg) and back.metadata["weights_dtype"] == "float16"
    for k, v in back.named_parameters():
        assert v.dtype == torch.float32 and torch.equal(v, params[k].detach().half().float())


def test_load_by_name_under_checkpoints_dir(gen, tmp_path, hermetic):
    ckpts = tmp_path / "ckpts"
    gen.save_pretrained(ckpts / "my-gen")
    assert resolve("my-gen", checkpoints_dir=ckpts) == ckpts / "my-gen"
    assert_same_generator(gen, Generator.from_pretrained("my-gen", checkpoints_dir=ckpts))


def test_registry_names_resolve_their_local_folder(gen, tmp_path, hermetic):
    ckpts = tmp_path / "ckpts"
    local_entries = [e for e in REGISTRY.values() if e.local]
    assert local_entries
    for entry in local_entries:
        assert entry.name in REGISTRY and REGISTRY[entry.name] is entry
        gen.save_pretrained(ckpts / entry.local)
        assert resolve(entry.name, checkpoints_dir=ckpts) == ckpts / entry.local
        if entry.kind == "Generator":
            assert_same_generator(gen, Generator.from_pretrained(entry.name, checkpoints_dir=ckpts))


def test_registered_name_absent_says_where_it_looked(tmp_path, hermetic):
    name = next(iter(REGISTRY))
    with pytest.raises(WeightsNotFoundError) as info:
        resolve(name, checkpoints_dir=tmp_path / "empty")
    assert str(tmp_path / "empty" / REGISTRY[name].local) in str(info.value)


def build_hub_cache(cache: Path, repo_id: str, model) -> Path:
    """The Hub's cache layout: models--{owner}--{name}/refs/main -> commit; snapshots/{commit}/files."""
    repo_dir = cache / f"models--{repo_id.replace('/', '--')}"
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(COMMIT)
    return model.save_pretrained(repo_dir / "snapshots" / COMMIT)


def test_load_from_offline_hub_cache(gen, hermetic):
    snapshot = build_hub_cache(hermetic, "someowner/tiny-gen", gen)
    assert huggingface_hub.constants.is_offline_mode()
    loaded = Generator.from_pretrained("someowner/tiny-gen")
    assert_same_generator(gen, loaded)
    assert resolve("someowner/tiny-gen").resolve() == snapshot.resolve()


def test_unknown_name_raises_quickly_naming_every_place(tmp_path, hermetic):
    ckpts = tmp_path / "ckpts"
    t0 = time.perf_counter()
    with pytest.raises(WeightsNotFoundError) as info:
        Generator.from_pretrained("nobody/no-such-model", checkpoints_dir=ckpts)
    assert time.perf_counter() - t0 < 5.0                 # offline: no network timeouts
    msg = str(info.value)
    assert str(tmp_path / "nobody" / "no-such-model") in msg          # the local folder
    assert str(ckpts / "nobody" / "no-such-model") in msg             # the checkpoints folder
    assert "Hugging Face Hub repo 'nobody/no-such-model'" in msg      # the Hub repo tried
    assert f"offline, HF_HUB_OFFLINE=1, and the file is not in the Hub cache {hermetic}: set HF_HUB_OFFLINE=0" in msg
    assert isinstance(info.value, FileNotFoundError)


def test_the_offline_hint_is_only_for_an_offline_cache_miss(monkeypatch):
    from huggingface_hub.errors import LocalEntryNotFoundError
    from linkgan.hub import offline_hint
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    assert "HF_HUB_OFFLINE=0" in offline_hint(LocalEntryNotFoundError("not in the cache"))
    wrapped = RuntimeError("open_clip could not load it")
    wrapped.__cause__ = LocalEntryNotFoundError("not in the cache")
    assert "HF_HUB_OFFLINE=0" in offline_hint(wrapped)
    assert offline_hint(ValueError("bad config")) == ""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    assert offline_hint(LocalEntryNotFoundError("not in the cache")) == ""      # online: the network was the cause


def test_plain_unknown_name_is_not_tried_on_the_hub(tmp_path, hermetic):
    with pytest.raises(WeightsNotFoundError) as info:
        Generator.from_pretrained("no-such-model", checkpoints_dir=tmp_path / "ckpts")
    msg = str(info.value)
    assert str(tmp_path / "ckpts" / "no-such-model") in msg
    assert "Hugging Face Hub" not in msg
    assert all(name in msg for name in REGISTRY)                     # suggests what does exist


# --- damaged weight sets --------------------------------------------------------------------------------

def _edit_state(folder: Path, fn) -> None:
    state = load_file(str(folder / WEIGHTS_NAME))
    fn(state)
    save_file(state, str(folder / WEIGHTS_NAME))


def _edit_config(folder: Path, fn) -> None:
    meta = json.loads((folder / CONFIG_NAME).read_text())
    fn(meta)
    (folder / CONFIG_NAME).write_text(json.dumps(meta))


def _truncate(folder: Path) -> None:
    data = (folder / WEIGHTS_NAME).read_bytes()
    (folder / WEIGHTS_NAME).write_bytes(data[: len(data) // 2])


DAMAGES = {
    "missing weights": (lambda f: (f / WEIGHTS_NAME).unlink(),
                        WeightsNotFoundError, ["model.safetensors"]),
    "missing config": (lambda f: (f / CONFIG_NAME).unlink(),
                       WeightsNotFoundError, ["config.json"]),
    "truncated weights": (_truncate, WeightsFormatError, ["damaged or not a safetensors file"]),
    "garbage weights": (lambda f: (f / WEIGHTS_NAME).write_bytes(b"this is not a tensor file\n" * 50),
                        WeightsFormatError, ["damaged or not a safetensors file"]),
    "wrong shape": (lambda f: _edit_state(f, lambda s: s.__setitem__("mapping.layers.1.weight", torch.zeros(32, 7))),
                    WeightsFormatError, ["wrong shape", "mapping.layers.1.weight", "(32, 7)", "(32, 32)"]),
    "extra key": (lambda f: _edit_state(f, lambda s: s.__setitem__("synthesis.bogus", torch.zeros(3))),
                  WeightsFormatError, ["unexpected", "synthesis.bogus"]),
    "missing key": (lambda f: _edit_state(f, lambda s: s.pop("synthesis.const")),
                    WeightsFormatError, ["missing", "synthesis.const"]),
    "broken json": (lambda f: (f / CONFIG_NAME).write_text('{"model_type": "Generator", "config": {'),
                    WeightsFormatError, ["not valid JSON", "config.json"]),
    "json not an object": (lambda f: (f / CONFIG_NAME).write_text("[1, 2]"),
                           WeightsFormatError, ["model_type"]),
    "unknown config field": (lambda f: _edit_config(f, lambda m: m["config"].__setitem__("n_heads", 4)),
                             WeightsFormatError, ["n_heads", "unknown GeneratorConfig field"]),
    "invalid config value": (lambda f: _edit_config(f, lambda m: m["config"].__setitem__("resolution", 48)),
                             WeightsFormatError, ["invalid GeneratorConfig", "power of two"]),
    "config disagrees with weights": (lambda f: _edit_config(f, lambda m: m["config"].__setitem__("resolution", 32)),
                                      WeightsFormatError, ["missing", "synthesis.convs.4.conv.weight"]),
    "wrong model type": (lambda f: _edit_config(f, lambda m: m.__setitem__("model_type", "Discriminator")),
                         WeightsFormatError, ["holds a Discriminator, not a Generator"]),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_weights_fail_clearly(saved, damage):
    fn, error, fragments = DAMAGES[damage]
    fn(saved)
    with pytest.raises(error) as info:
        Generator.from_pretrained(saved)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_loading_a_generator_as_a_discriminator_fails(saved):
    with pytest.raises(WeightsFormatError, match="holds a Generator, not a Discriminator"):
        Discriminator.from_pretrained(saved)
