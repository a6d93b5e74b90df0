"""Tests of linkgan.directions (GANSpace, SeFa, InterFaceGAN, StyleSpace, ReSeFa) on tiny random generators: the
package's own layout and one converted from the rosinality layout. Each asserts what its paper promises."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from linkgan.convert import convert_rosinality
from linkgan.directions import (Directions, ganspace, generalized_eigh, interfacegan, linear_boundary, resefa, sefa,
                                stylespace)
from linkgan.directions.base import finite_difference_jacobian
from linkgan.directions.sefa import sefa_weights
from linkgan.directions.stylespace import top_regions
from linkgan.networks import Generator, GeneratorConfig
from test_convert import OPTIONS, foreign_state

TINY = GeneratorConfig(resolution=16, z_dim=32, w_dim=32, n_mlp=2, channel_base=256, channel_max=16)


def _toy():
    torch.manual_seed(0)
    return Generator(TINY).eval().requires_grad_(False)


def _converted():
    G, _ = convert_rosinality(foreign_state(size=16, with_d=False), **{**OPTIONS, "size": 16})
    return G.eval().requires_grad_(False)


GENERATORS = {"toy": _toy, "rosinality": _converted}


@pytest.fixture(scope="module", params=sorted(GENERATORS))
def G(request):
    return GENERATORS[request.param]()


def _ws(G, n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    return G.broadcast(G.map(torch.randn(n, G.config.z_dim, generator=g), psi=0.7))


class HalfSegmenter:
    """Labels the left half 0 and the right half 1 of any image (a stand-in for the part segmenter)."""
    config = SimpleNamespace(labels=("left", "right"))

    def predict(self, images):
        b, _, h, w = images.shape
        labels = torch.zeros(b, h, w, dtype=torch.long)
        labels[..., w // 2:] = 1
        return labels


# --- SeFa: orthonormal eigenvectors of A^T A, sorted ---------------------------------------------------------
def test_sefa_directions_are_sorted_orthonormal_eigenvectors(G):
    d = sefa(G, scale_samples=200)
    v = d.vectors.double()
    assert torch.allclose(v @ v.T, torch.eye(len(v), dtype=torch.float64), atol=1e-5)
    weight = sefa_weights(G, range(G.num_ws))
    m = weight @ weight.T
    assert torch.allclose(v @ m, d.scores.double()[:, None] * v, atol=1e-3 * float(d.scores[0]))
    assert (d.scores[:-1] >= d.scores[1:] - 1e-4).all()
    assert weight.norm(dim=0).allclose(torch.ones(weight.shape[1], dtype=torch.float64))   # unit columns


def test_sefa_leaves_out_all_but_the_last_torgb(G):
    names = [n for n, _, row in G.synthesis.style_layers() if not n.endswith("torgb") or row == G.num_ws - 1]
    assert sefa_weights(G, range(G.num_ws)).shape[1] == sum(G.synthesis.style_dims()[n] for n in names)


# --- GANSpace: components by variance --------------------------------------------------------------------------
def test_ganspace_components_are_ordered_by_variance(G):
    d = ganspace(G, num_samples=4000, num_components=8)
    v = d.vectors.double()
    assert torch.allclose(v @ v.T, torch.eye(8, dtype=torch.float64), atol=1e-5)
    assert (d.scores[:-1] >= d.scores[1:]).all() and float(d.scores.sum()) <= 1 + 1e-6
    g = torch.Generator().manual_seed(5)                               # fresh samples: the same ordering
    w = G.map(torch.randn(4000, G.config.z_dim, generator=g))
    std = (w - w.mean(0)) @ d.vectors.T
    assert (std.std(0)[:3].diff() < 0).all()
    assert torch.allclose(std.std(0), d.scales, rtol=0.1)


# --- InterFaceGAN: a planted boundary is recovered -------------------------------------------------------------
def test_linear_boundary_recovers_a_planted_normal():
    g = torch.Generator().manual_seed(0)
    d = 24
    codes = torch.randn(5000, d, generator=g) * torch.linspace(0.2, 3.0, d) + 1.5     # anisotropic, off-centre
    normal = torch.randn(d, generator=g)
    normal /= normal.norm()
    scores = codes @ normal + 0.05 * torch.randn(5000, generator=g)
    scores[:50] = float("nan")                                                      # unreadable: left out
    found, fit = linear_boundary(codes, scores, chosen=0.1)
    assert float(found @ normal) > 0.95
    assert fit["val_accuracy"] == 1.0 and fit["per_side"] == 495


def test_conditional_boundary_keeps_the_other_attributes():
    from linkgan.directions.interfacegan import project_out

    g = torch.Generator().manual_seed(0)
    conditions = torch.nn.functional.normalize(torch.randn(3, 16, generator=g))
    n = torch.nn.functional.normalize(torch.randn(16, generator=g), dim=0)
    m = project_out(n, conditions)
    assert torch.allclose(conditions @ m, torch.zeros(3), atol=1e-6)      # the other boundaries' distances stay
    assert float(m.norm()) == pytest.approx(1.0) and float(m @ n) > 0


def test_interfacegan_direction_raises_the_labelled_score(G):
    def labeller(images):                        # "redness": red minus the other channels, two classes
        red = (images[:, 0] - images[:, 1:].mean(1)).mean((1, 2))
        return {"tint": torch.stack([red, -red], dim=1)}

    d = interfacegan(G, labeller, targets=[("tint", "red")], class_names={"tint": ["red", "green"]},
                     num_samples=600, chosen=0.1, scale_samples=200)
    assert len(d) == 2 and torch.equal(d.vectors[0], d.vectors[1])       # nothing else to keep: the same normal
    assert d.meta["fits"]["tint=red"]["val_accuracy"] > 0.8
    ws = _ws(G, 16)
    redness = lambda img: labeller(img)["tint"][:, 0]                               # noqa: E731
    assert float((redness(d.render(G, ws, 0, 2.0)) - redness(d.render(G, ws, 0, -2.0))).mean()) > 0


# --- ReSeFa: the top direction changes the region more than outside ----------------------------------------------
def test_generalized_eigh_solves_the_pencil():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(6, 6, generator=g, dtype=torch.float64), torch.randn(9, 6, generator=g, dtype=torch.float64)
    a, b = x @ x.T, y.T @ y
    vals, vecs = generalized_eigh(a, b)
    assert torch.allclose(a @ vecs, b @ vecs * vals, atol=1e-8)
    assert (vals.diff() <= 0).all() and vecs.norm(dim=0).allclose(torch.ones(6, dtype=torch.float64))


def _in_out(G, ws, d, k, mask, strength=0.03):
    x = G.synthesize(ws, noise_mode="const")
    y = d.render(G, ws, k, strength)
    diff = (y - x).sum(1).square()                       # (B, H, W): the change of the RGB sum, as ReSeFa
    return float(diff[:, mask].mean() / diff[:, ~mask].mean())


def test_resefa_top_direction_changes_the_region_more_than_outside(G):
    ws = _ws(G, 1)
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[2:7, 3:9] = True                                            # a small box: most change is outside at random
    d = resefa(G, ws, mask, num_directions=G.config.w_dim, scale_samples=200)
    top, bottom = _in_out(G, ws, d, 0, mask), _in_out(G, ws, d, len(d) - 1, mask)
    g = torch.Generator().manual_seed(1)
    rand = Directions("resefa", vectors=torch.nn.functional.normalize(torch.randn(8, G.config.w_dim, generator=g)),
                      scales=torch.full((8,), float(d.scales[0])), scores=torch.zeros(8), rows=d.rows[:8])
    random_ratios = [_in_out(G, ws, rand, k, mask) for k in range(8)]
    assert top > 1 and top > max(random_ratios) and top > bottom
    assert top == pytest.approx(float(d.scores[0]), rel=0.1)        # the eigenvalue is the ratio, to first order
    assert (d.scores.diff() <= 1e-6).all()


def test_resefa_resizes_large_images_and_their_mask(G, monkeypatch):
    import importlib
    module = importlib.import_module("linkgan.directions.resefa")   # the package binds the name to the function

    monkeypatch.setattr(module, "MAX_SIDE", 8)                      # as 1024 px images go to 256
    mask = torch.zeros(16, 16, dtype=torch.bool)
    mask[:8, :8] = True
    a, b = module.region_jacobian_moments(G, _ws(G, 1), mask)
    small_a, small_b = module.region_jacobian_moments(G, _ws(G, 1), mask[::2, ::2])   # the mask as it is resized
    assert a.shape == (G.config.w_dim,) * 2 and torch.equal(a, small_a) and torch.equal(b, small_b)
    assert float(torch.trace(a)) > 0 and float(torch.trace(b)) > 0


def test_finite_difference_jacobian_matches_forward_mode(G):
    ws = _ws(G, 1)
    render = lambda delta: G.synthesize(ws + delta[:, None], noise_mode="const").flatten(1)   # noqa: E731
    x = torch.zeros(G.config.w_dim)
    fd = finite_difference_jacobian(render, x, steps=torch.tensor(1e-3), chunk=7)
    exact = torch.func.jacfwd(lambda v: render(v[None])[0])(x).T
    assert float((fd - exact).norm() / exact.norm()) < 0.02


# --- StyleSpace: the overlap rule and locally-active channels -----------------------------------------------------
def test_top_region_uses_the_area_matched_overlap_and_favours_small_regions():
    masks = torch.zeros(2, 4, 4, dtype=torch.bool)
    masks[0, :, :2] = True                                           # region 0: left half (8 pixels)
    masks[1, :2, 2:] = True                                          # region 1: top-right quarter (4 pixels)
    maps = torch.zeros(3, 4, 4)
    maps[0, :, :2] = torch.rand(4, 2) + 1                            # all on region 0
    maps[1, :2, 2:] = torch.rand(2, 2) + 1                           # all on region 1
    maps[2, :, :2] = 1.0                                             # on region 0, plus ...
    maps[2, 0, 2] = 3.0                                              # ... one pixel of region 1: n/o^2 picks region 1
    assert top_regions(maps, masks).tolist() == [0, 1, 1]


def test_stylespace_finds_channels_local_to_a_half(G):
    d = stylespace(G, HalfSegmenter(), num_images=3, per_part=2, stats_samples=200, threshold1=0.5,
                   threshold2=0.25)
    assert d.space == "s" and set(d.names) <= {"left", "right"} and len(d) >= 1
    ws = _ws(G, 2)
    styles = G.ws_to_styles(ws)
    edited = d.apply(styles, 0, 5.0)
    layer, ch = d.channels[0]
    changed = {k for k in styles if not torch.equal(styles[k], edited[k])}
    assert changed == {layer}
    assert torch.allclose(edited[layer][:, ch] - styles[layer][:, ch], d.scales[0].expand(2) * 5.0)
    # on the faces analysed, most of the pixels it changes most lie in its half (the rule, seen from an edit)
    x, y = G.synthesize(ws, noise_mode="const"), d.render(G, ws, 0, 0.1)
    change = (y - x).abs().mean(1).flatten(1)                       # (B, H*W)
    top = change >= change.median(dim=1, keepdim=True).values        # the half of the pixels changed most
    own = HalfSegmenter().predict(x).flatten(1) == ["left", "right"].index(d.names[0])
    assert float((top & own).sum(1).div(top.sum(1)).mean()) > 0.5


# --- the file format and the edit --------------------------------------------------------------------------------
def test_save_load_round_trip_gives_identical_edits(G, tmp_path):
    d = sefa(G, num_directions=4, scale_samples=100)
    d.names[1] = "hair colour"
    path = d.save(tmp_path / "sefa.safetensors")
    e = Directions.load(path)
    assert e.method == "sefa" and e.rows == d.rows and e.label(1) == "comp 1: hair colour" and e.label(0) == "comp 0"
    ws = _ws(G, 2)
    assert torch.equal(d.render(G, ws, 2, 1.5), e.render(G, ws, 2, 1.5))
    s = stylespace(G, HalfSegmenter(), num_images=2, stats_samples=100)
    t = Directions.load(s.save(tmp_path / "s.safetensors"))
    assert t.channels == s.channels and torch.equal(t.render(G, ws, 0, 2.0), s.render(G, ws, 0, 2.0))


def test_apply_moves_only_the_rows_and_by_strength_times_scale(G):
    d = ganspace(G, num_samples=500, num_components=3, rows=[1, 2])
    ws = _ws(G, 2)
    out = d.apply(ws, 1, 2.0)
    delta = out - ws
    assert torch.equal(delta[:, [0, 3]], torch.zeros_like(delta[:, [0, 3]]))
    assert torch.allclose(delta[:, 1].norm(dim=1), torch.full((2,), 2.0 * float(d.scales[1])), rtol=1e-4)


@pytest.mark.parametrize("bad", [-1, 3, 1.5, True])
def test_bad_index_is_a_clear_error(G, bad):
    d = sefa(G, num_directions=3, scale_samples=0)
    with pytest.raises(ValueError, match="direction index"):
        d.apply(_ws(G, 1), bad, 1.0)


def test_files_that_are_not_directions_are_refused(tmp_path):
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    for name in ("other", "junk"):
        with pytest.raises(ValueError, match="not a"):
            Directions.load(tmp_path / f"{name}.safetensors")
    with pytest.raises(FileNotFoundError):
        Directions.load(tmp_path / "missing.safetensors")


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="3 directions"):
        Directions("sefa", vectors=torch.zeros(3, 4), scales=torch.ones(2), scores=torch.ones(3), rows=[(0,)] * 3)


# --- naming by what the oracle reads ---------------------------------------------------------------------------
class BrightnessOracle:
    """Reads 'tint' as bright / dark against a fixed level; the attributes the oracle's visibility rules ask for
    are constant."""
    config = SimpleNamespace(attributes={"tint": ["dark", "bright"]})

    def __init__(self, level):
        self.level = level

    def predict(self, images):
        n = len(images)
        const = {"glasses": ["none"] * n, "eyes": ["open"] * n, "hair_style": ["short"] * n, "beard": ["none"] * n}
        return {**const, "tint": ["bright" if float(x.mean()) > self.level else "dark" for x in images]}


class LinearG:
    """A stand-in generator whose image brightness is the first coordinate of w (seeds: w = (seed - 7.5) / 20)."""
    num_ws = 2

    def synthesize(self, ws, noise_mode="const"):
        return ws[:, 0, :1].reshape(-1, 1, 1, 1).expand(-1, 3, 4, 4)

    def z_from_seeds(self, seeds):
        return torch.tensor([[(s - 7.5) / 20, 0.0] for s in seeds])

    def map(self, z, psi=1.0):
        return z

    def broadcast(self, w):
        return w.unsqueeze(1).expand(-1, self.num_ws, -1)


def test_names_say_what_the_oracle_sees_change():
    from linkgan.directions import direction_effects, name_directions

    G, oracle = LinearG(), BrightnessOracle(0.0)
    e0 = torch.tensor([[1.0, 0.0]])
    d = Directions("sefa", vectors=torch.cat([e0, e0]), scales=torch.tensor([1.0, 0.0]), scores=torch.ones(2),
                   rows=[(0, 1)] * 2, meta={"made_for": ["left", ""]})
    ws = G.broadcast(G.map(G.z_from_seeds(range(16))))
    effects = direction_effects(G, d, oracle, ws, strength=1.0)
    assert effects[0]["attribute"] == "tint" and effects[0]["plus"] == "bright" and effects[0]["minus"] == "dark"
    assert effects[0]["share"] == 0.5                                # each side flips the half on the other side
    assert effects[1]["attribute"] is None and effects[1]["share"] == 0.0     # a zero step changes nothing
    d.names[1] = "kept"
    assert name_directions(G, d, oracle, seeds=range(16), strength=1.0) == [
        "comp 0: left: tint (+ bright, − dark)", "comp 1: kept"]
