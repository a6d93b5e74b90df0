"""Official StyleCLIP mapper files -> linkgan LatentMapper (linkgan/styleclip/convert.py).

The reference below is an independent, minimal re-statement of their forward (orpatashnik/StyleCLIP
mapper/latent_mappers.py + models/stylegan2/model.py + op/fused_act.py): rows [:4], [4:8], [8:] per group;
PixelNorm over dim 1 (x * rsqrt(mean(x^2, dim=1) + 1e-8)); EqualLinear weight * lr_mul / sqrt(in_dim), bias * lr_mul
with lr_mul 0.01, then leaky_relu(x + bias, 0.2) * sqrt(2); a switched-off group gives zeros.
"""
from __future__ import annotations

import math
import os
import pickle

import pytest
import torch

from linkgan.styleclip import LatentMapper, StyleCLIPMapperError, load_styleclip_mapper

W_DIM, NUM_WS, LR = 16, 6, 0.01
NAMES = {"coarse": "course_mapping", "medium": "medium_mapping", "fine": "fine_mapping"}


def fake_state(groups=("coarse", "medium", "fine"), w_dim=W_DIM, seed=0, decoder=True, prefix_of=None):
    g = torch.Generator().manual_seed(seed)
    state = {}
    for grp in groups:
        prefix = prefix_of or f"mapper.{NAMES[grp]}"
        for i in range(1, 5):
            state[f"{prefix}.mapping.{i}.weight"] = torch.randn(w_dim, w_dim, generator=g) / LR
            state[f"{prefix}.mapping.{i}.bias"] = torch.randn(w_dim, generator=g) * 10   # visible after * lr_mul
    if decoder:
        state["decoder.style.1.weight"] = torch.randn(w_dim, w_dim, generator=g)
        state["decoder.input.input"] = torch.randn(1, 8, 4, 4, generator=g)
    return state


def opts_for(off=(), **kw):
    return {"mapper_type": "LevelsMapper", "no_coarse_mapper": "coarse" in off, "no_medium_mapper": "medium" in off,
            "no_fine_mapper": "fine" in off, "stylegan_size": 1024, "description": "a face with blond hair",
            "checkpoint_path": None, **kw}


def ref_mlp(x, state, prefix):
    x = x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)
    for i in range(1, 5):
        w, b = state[f"{prefix}.mapping.{i}.weight"], state[f"{prefix}.mapping.{i}.bias"]
        x = x @ (w * (LR / math.sqrt(w.shape[1]))).t()
        x = torch.nn.functional.leaky_relu(x + b * LR, 0.2) * math.sqrt(2)
    return x


def ref_levels(ws, state, off=()):
    parts = []
    for grp, sl in (("coarse", slice(0, 4)), ("medium", slice(4, 8)), ("fine", slice(8, None))):
        x = ws[:, sl]
        parts.append(torch.zeros_like(x) if grp in off else ref_mlp(x, state, f"mapper.{NAMES[grp]}"))
    return torch.cat(parts, dim=1)


def save(tmp_path, obj, name="mapper.pt"):
    path = tmp_path / name
    torch.save(obj, path)
    return path


@pytest.mark.parametrize("num_ws", [NUM_WS, 10, 18])
def test_converted_levels_mapper_matches_their_forward(tmp_path, num_ws):
    state = fake_state()
    path = save(tmp_path, {"state_dict": state, "opts": opts_for()})
    m = load_styleclip_mapper(path, num_ws=num_ws, w_dim=W_DIM)
    assert isinstance(m, LatentMapper)
    ws = torch.randn(3, num_ws, W_DIM, generator=torch.Generator().manual_seed(1)) * 2 + 0.5
    with torch.no_grad():
        got, want = m(ws), ref_levels(ws, state)
    assert got.shape == want.shape == ws.shape
    assert want.abs().max() > 1e-2                       # not a trivially zero comparison
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    assert m.metadata["ignored_tensors"] == 2            # decoder.* skipped
    assert m.config.prompt == "a face with blond hair"


def test_switched_off_groups_give_zero_rows(tmp_path):
    off = ("medium",)
    state = fake_state(groups=("coarse", "fine"))
    m = load_styleclip_mapper(save(tmp_path, {"state_dict": state, "opts": opts_for(off)}), num_ws=10, w_dim=W_DIM)
    assert m.config.groups == ("coarse", "fine")
    ws = torch.randn(2, 10, W_DIM)
    with torch.no_grad():
        got = m(ws)
    torch.testing.assert_close(got, ref_levels(ws, state, off), atol=1e-5, rtol=1e-5)
    assert bool((got[:, 4:8] == 0).all())


def test_single_mapper_and_bare_state_dict(tmp_path):
    state = fake_state(groups=("coarse",), prefix_of="mapper.mapping", decoder=False)
    m = load_styleclip_mapper(save(tmp_path, state), num_ws=NUM_WS, w_dim=W_DIM)   # no opts: layout from keys
    ws = torch.randn(2, NUM_WS, W_DIM)
    with torch.no_grad():
        torch.testing.assert_close(m(ws), ref_mlp(ws, state, "mapper.mapping"), atol=1e-5, rtol=1e-5)


def test_round_trip_through_save_pretrained(tmp_path):
    state = fake_state()
    m = load_styleclip_mapper(save(tmp_path, {"state_dict": state, "opts": opts_for()}), num_ws=NUM_WS, w_dim=W_DIM)
    m.save_pretrained(tmp_path / "out", extra=m.metadata)
    m2 = LatentMapper.from_pretrained(tmp_path / "out")
    ws = torch.randn(2, NUM_WS, W_DIM)
    with torch.no_grad():
        torch.testing.assert_close(m2(ws), ref_levels(ws, state), atol=1e-5, rtol=1e-5)


def test_missing_and_unexpected_keys_are_named(tmp_path):
    state = fake_state()
    del state["mapper.medium_mapping.mapping.3.bias"]
    state["mapper.extra_mapping.mapping.1.weight"] = torch.zeros(W_DIM, W_DIM)
    with pytest.raises(StyleCLIPMapperError) as e:
        load_styleclip_mapper(save(tmp_path, {"state_dict": state, "opts": opts_for()}), num_ws=NUM_WS, w_dim=W_DIM)
    msg = str(e.value)
    assert "mapper.medium_mapping.mapping.3.bias" in msg and "missing" in msg
    assert "mapper.extra_mapping.mapping.1.weight" in msg and "unexpected" in msg
    assert isinstance(e.value, ValueError)


def test_group_switched_off_but_present_is_unexpected(tmp_path):
    path = save(tmp_path, {"state_dict": fake_state(), "opts": opts_for(("fine",))})
    with pytest.raises(StyleCLIPMapperError, match="fine_mapping"):
        load_styleclip_mapper(path, num_ws=NUM_WS, w_dim=W_DIM)


def test_wrong_shape_is_named(tmp_path):
    state = fake_state()
    state["mapper.course_mapping.mapping.2.weight"] = torch.zeros(W_DIM, W_DIM + 1)
    path = save(tmp_path, {"state_dict": state, "opts": opts_for()})
    with pytest.raises(StyleCLIPMapperError, match=r"course_mapping\.mapping\.2\.weight: shape \(16, 17\)"):
        load_styleclip_mapper(path, num_ws=NUM_WS, w_dim=W_DIM)
    # the default w_dim (512) does not fit a 16-wide file either
    with pytest.raises(StyleCLIPMapperError, match="expected \\(512, 512\\)"):
        load_styleclip_mapper(save(tmp_path, {"state_dict": fake_state(), "opts": opts_for()}, "b.pt"))


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_pickled_code_is_refused(tmp_path):
    path = save(tmp_path, {"state_dict": fake_state(), "opts": opts_for(), "evil": _Evil()})
    with pytest.raises(StyleCLIPMapperError, match="refused"):
        load_styleclip_mapper(path, num_ws=NUM_WS, w_dim=W_DIM)
    raw = tmp_path / "raw.pt"
    raw.write_bytes(pickle.dumps({"state_dict": _Evil()}))
    with pytest.raises(StyleCLIPMapperError):
        load_styleclip_mapper(raw, num_ws=NUM_WS, w_dim=W_DIM)


def test_not_a_file_and_not_a_dict(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_styleclip_mapper(tmp_path / "nope.pt")
    with pytest.raises(StyleCLIPMapperError, match="expected a dict"):
        load_styleclip_mapper(save(tmp_path, [torch.zeros(1)]), num_ws=NUM_WS, w_dim=W_DIM)


def test_cli_writes_a_loadable_folder(tmp_path, training_script):
    cli = training_script("convert_styleclip_mapper")
    state = fake_state()
    src = save(tmp_path, {"state_dict": state, "opts": opts_for()})
    assert cli.main([str(src), "--out", str(tmp_path / "m"), "--num-ws", "10", "--w-dim", str(W_DIM)]) == 0
    m = LatentMapper.from_pretrained(tmp_path / "m")
    ws = torch.randn(2, 10, W_DIM)
    with torch.no_grad():
        torch.testing.assert_close(m(ws), ref_levels(ws, state), atol=1e-5, rtol=1e-5)
    assert cli.main([str(src), "--out", str(tmp_path / "bad")]) == 2      # w_dim 512 does not fit
