"""Link metrics over views (linkgan/metrics3d.py): on an analytic 3D generator whose link is perfect by construction
the outside terms are exactly zero in every view, and a broken one shows; the depth change on a known case; the views,
the view-consistency measure and the render time; and the benchmark section's message while no 3D model is shipped."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from linkgan import cameras as cams
from linkgan.links import Link
from linkgan.metrics3d import (FromView, depth_change, link_metrics_3d, metric_views, render_ms,
                               view_consistency)

CAP = Link("cap", axes=(0, 2), label=1, follow=True)
VIEWS = [(0.0, 0.0), (-30.0, 0.0), (20.0, 15.0)]


def _sphere_hits(origins, dirs, radius, upper: bool) -> torch.Tensor:
    """Distance to the nearest point of the sphere (radius (B, 1)) with y > 0 (upper) or y <= 0, inf for none."""
    b = (origins * dirs).sum(-1)
    disc = b.square() - (origins.square().sum(-1) - radius.square())
    root = disc.clamp_min(0).sqrt()
    best = torch.full_like(b, float("inf"))
    for t in (-b + root, -b - root):                          # the far root first: the near one wins where both do
        y = origins[..., 1] + t * dirs[..., 1]
        ok = (disc >= 0) & (t > 0) & ((y > 0) if upper else (y <= 0))
        best = torch.where(ok, t, best)
    return best


class TwoHalves:
    """An analytic 3D generator: a sphere whose upper half (the region: red) takes its radius and colour from axes
    [0, 2) of w and whose lower half (blue-ish) its colour from axes [2, 4). `broken`: axis 0 also moves the lower
    half's radius and colour, so resampling the link changes pixels and depth outside its region."""

    def __init__(self, broken: bool = False):
        self.broken, self.num_ws = broken, 1
        self.config = SimpleNamespace(camera_range=cams.DEFAULT_RANGE, w_dim=4, z_dim=4)
        self.w_avg = torch.zeros(4)

    def map(self, z, psi=1.0):
        return self.w_avg + psi * (z - self.w_avg)

    def z_from_seeds(self, seeds, device=None):
        return torch.stack([torch.randn(4, generator=torch.Generator().manual_seed(int(s))) for s in seeds])

    def broadcast(self, w):
        return w[:, None]

    def render(self, ws, camera, noise_mode="const"):
        w = (ws[:, 0] if ws.ndim == 3 else ws)[:, :, None]                               # (B, 4, 1)
        origins, dirs = cams.rays(camera, 16)                                            # (B, 256, 3)
        t_up = _sphere_hits(origins, dirs, 0.25 + 0.1 * torch.sigmoid(w[:, 0]), upper=True)
        low_r = 0.3 + (0.05 * torch.tanh(w[:, 0]) if self.broken else 0.0)
        t_low = _sphere_hits(origins, dirs, torch.as_tensor(low_r).expand_as(w[:, 0]), upper=False)
        up = t_up <= t_low
        t = torch.minimum(t_up, t_low)
        hit = t.isfinite()
        low_g = torch.tanh(w[:, 2] + (w[:, 0] if self.broken else 0.0))
        colour_up = torch.stack([torch.full_like(t, 0.8), torch.tanh(w[:, 0]).expand_as(t),
                                 torch.tanh(w[:, 1]).expand_as(t)], 1)
        colour_low = torch.stack([torch.full_like(t, -0.8), low_g.expand_as(t), torch.tanh(w[:, 3]).expand_as(t)], 1)
        image = torch.where(hit[:, None], torch.where(up[:, None], colour_up, colour_low), torch.tensor(-1.0))
        return SimpleNamespace(image=image.reshape(-1, 3, 16, 16), depth=torch.where(hit, t, 3.3).reshape(-1, 16, 16),
                               opacity=hit.float().reshape(-1, 16, 16))

    def synthesize(self, ws, camera, noise_mode="const"):
        return self.render(ws, camera, noise_mode).image


def red_is_the_cap(images):
    return (images[:, 0] > 0).long()


def test_a_link_perfect_by_construction_leaves_every_view_outside_its_region_alone():
    m = link_metrics_3d(TwoHalves(), [CAP], seeds=range(6), views=VIEWS, segmenter=red_is_the_cap, batch_size=4)["cap"]
    assert m["mse_in"] > 10 and m["depth_in"] > 1                       # the cap changes colour and shape
    assert m["mse_out"] == 0 and m["leak_in"] == 0 and m["ratio"] == 0 and m["depth_out"] == 0
    assert set(m["views"]) == {"+0,+0", "-30,+0", "+20,+15"} and all(v["mse_in"] > 0 for v in m["views"].values())
    broken = link_metrics_3d(TwoHalves(broken=True), [CAP], seeds=range(6), views=VIEWS, segmenter=red_is_the_cap,
                             batch_size=4)["cap"]
    assert broken["mse_out"] > 10 and broken["ratio"] > 0.1 and broken["depth_ratio"] > 0.05


def test_depth_change_of_a_known_case():
    depth_x = torch.full((1, 4, 4), 2.5)
    depth_y = depth_x.clone()
    region = torch.zeros(1, 4, 4, dtype=torch.bool)
    region[0, :2, :2] = True                                            # 4 region pixels move by 0.1
    depth_y[0, :2, :2] += 0.1
    depth_y[0, 3, 3] += 0.02                                            # one head pixel outside moves by 0.02
    depth_y[0, 3, 0] += 0.5                                             # a background pixel: left out
    foreground = torch.ones(1, 4, 4, dtype=torch.bool)
    foreground[0, 3, 0] = False
    s_in, n_in, s_out, n_out = depth_change(depth_x, depth_y, region, foreground)
    assert (n_in, n_out) == (4, 11)
    assert s_in == pytest.approx(0.4, abs=1e-5) and s_out == pytest.approx(0.02, abs=1e-5)


def test_views_and_view_wrapper():
    assert metric_views(cams.DEFAULT_RANGE, 3) == [(0, 0), (-30.0, 0), (30.0, 0)]
    assert len(metric_views(cams.DEFAULT_RANGE, 9)) == 9
    with pytest.raises(ValueError):
        metric_views(cams.DEFAULT_RANGE, 10)
    G = TwoHalves()
    view = FromView(G, 20, -10)
    yaw, pitch = cams.yaw_pitch(view.camera)
    assert float(yaw) == pytest.approx(20, abs=1e-4) and float(pitch) == pytest.approx(-10, abs=1e-4)
    w = G.map(G.z_from_seeds([1, 2]))
    assert view.synthesize(w) is view.synthesize(w.clone())             # kept by value: rendered once
    assert view.map == G.map and view.config is G.config


def test_view_consistency_is_one_for_a_view_independent_reading_and_lower_otherwise():
    G = TwoHalves()
    colour = lambda img: {"cap_green": [str(v) for v in (img[:, 1].amax((1, 2)) > 0).tolist()]}  # noqa: E731
    share = lambda img: {"cap_share": [str(v) for v in ((img[:, 0] > 0).float().mean((1, 2)) > 0.17).tolist()]}  # noqa: E731,E501
    views = metric_views(cams.DEFAULT_RANGE, 5)
    assert view_consistency(G, colour, seeds=range(8), views=views) == {"cap_green": 1.0}
    assert view_consistency(G, share, seeds=range(8), views=views)["cap_share"] < 1.0


def test_view_agreement_leaves_out_what_a_face_hides():
    """Two faces, three views: the first with closed eyes (its eye colour read at random is not counted), the second
    read right in two of three views; against the truth, a wrong but steady reading scores 0."""
    from linkgan.metrics3d import _agreement
    face = {"glasses": "none", "hair_style": "short", "beard": "none"}
    readings = [{"eyes": ["closed", e], "eye_color": [c, "blue"], **{k: [v, v] for k, v in face.items()}}
                for e, c in (("open", "brown"), ("open", "green"), ("closed", "blue"))]
    out = _agreement(readings)
    assert out["eye_color"] == 1.0                    # only the second face counts: blue in every view
    assert out["eyes"] == pytest.approx((1 + 2 / 3) / 2, abs=1e-4)
    truth = [{"eyes": "closed", "eye_color": "brown", **face}, {"eyes": "open", "eye_color": "green", **face}]
    assert _agreement(readings, truth)["eye_color"] == 0.0 and _agreement(readings, truth)["glasses"] == 1.0


def test_the_heads_consistency_reads_the_truth_from_every_view():
    """A reader that knows the truth scores 1 on every attribute; one that always says "brown" scores the share of
    heads with visible brown eyes, the same in every view."""
    from linkgan.data import sample_attributes
    from linkgan.metrics3d import heads_view_consistency
    seeds = list(range(6))
    views = metric_views(cams.DEFAULT_RANGE, 3)
    truth = {k: [getattr(sample_attributes(s), k) for s in seeds] for k in ("eye_color", "eyes", "glasses")}
    calls = []

    def oracle(images):                  # the heads are rendered in seed order, one render per view
        assert images.shape == (len(seeds), 3, 64, 64)
        calls.append(1)
        return truth

    assert heads_view_consistency(oracle, seeds=seeds, views=views) == {"eye_color": 1.0, "eyes": 1.0, "glasses": 1.0}
    assert len(calls) == len(views)
    brown = heads_view_consistency(lambda img: {"eye_color": ["brown"] * len(img)}, seeds=seeds, views=views)
    shown = [s for s in seeds if "eye_color" not in sample_attributes(s).hidden_attributes()]
    assert brown["eye_color"] == pytest.approx(
        sum(sample_attributes(s).eye_color == "brown" for s in shown) / len(shown), abs=1e-4)


def test_metrics_and_render_time_on_a_tiny_triplane_generator():
    from linkgan.networks3d import TriplaneGenerator, TriplaneGeneratorConfig
    torch.manual_seed(0)
    G = TriplaneGenerator(TriplaneGeneratorConfig(
        resolution=16, neural_resolution=8, plane_resolution=16, plane_channels=4, z_dim=16, w_dim=16,
        channel_base=256, channel_max=16, decoder_hidden=16, feature_channels=8, n_coarse=6, n_importance=6,
        sr_channels=8)).eval()
    m = link_metrics_3d(G, [Link("top", axes=(0, 4), label=1)], seeds=range(3), views=VIEWS[:2],
                        segmenter=lambda img: (img[:, 0] > img[:, 0].median()).long())["top"]
    assert all(m[k] >= 0 for k in ("mse_in", "mse_out", "leak_in", "leak_out", "depth_in", "depth_out"))
    assert m["mse_in"] > 0 and m["depth_in"] > 0                         # an untrained G changes everywhere
    assert render_ms(G, views=VIEWS[:2], runs=2) > 0


def test_linkage3d_section_says_there_is_no_shipped_3d_model_yet(monkeypatch, tmp_path):
    from benchmarks import SECTIONS, linkage3d
    from linkgan import hub

    monkeypatch.setattr(hub, "CHECKPOINTS_DIR", tmp_path)               # an empty zoo, whatever ships later
    out = SECTIONS["linkage3d"](quick=True)
    assert out["status"] == "no shipped 3D model" and "heads3d.sh" in out["message"]
    assert set(out["missing"]) == set(linkage3d.WEIGHTS) and not any(k.startswith("mse") for k in out)


def test_generated_views_see_each_code_from_its_seeds_camera_and_fd_compares_them():
    from linkgan.data.heads3d import head_cameras
    from linkgan.metrics3d import frechet_distance_3d, generated_views
    from linkgan.networks3d import TriplaneGenerator
    from linkgan.segmenter import Segmenter, SegmenterConfig
    from test_networks3d import tiny_config

    torch.manual_seed(0)
    G = TriplaneGenerator(tiny_config()).eval()
    images = generated_views(G, [5, 6, 7], batch_size=2)
    assert images.shape == (3, 3, 16, 16)
    c = head_cameras([6], camera_range=G.config.camera_range)
    alone = G.synthesize(G.map(G.z_from_seeds([6])), c, noise_mode="const")
    assert torch.allclose(images[1:2], alone, atol=1e-5)
    assert not torch.allclose(images[1:2], G.synthesize(G.map(G.z_from_seeds([6])), noise_mode="const"), atol=1e-3)
    seg = Segmenter(SegmenterConfig(channels=(4, 8))).eval()
    fd = frechet_distance_3d({"a": G, "same": G}, seg, seeds=range(24), real_seeds=range(100, 124))
    assert fd["a"] == fd["same"] and fd["a"] > 0


def test_linkage3d_section_measures_every_number_on_a_zoo(monkeypatch, tmp_path):
    """The whole section on a zoo of tiny untrained 3D weight sets (a stand-in for the trained ones): link metrics
    over views for both generators, the Fréchet distances and their ratio, view consistency, render time."""
    from benchmarks import SECTIONS
    from linkgan import hub
    from linkgan.networks3d import TriplaneGenerator
    from linkgan.oracle import AttributeOracle, OracleConfig
    from linkgan.segmenter import Segmenter, SegmenterConfig
    from test_networks3d import tiny_config

    torch.manual_seed(0)
    links = {"links": [{"name": "mouth", "axes": [0, 8], "parts": ["mouth"], "follow": True,
                        "attributes": ["mouth"]}]}
    TriplaneGenerator(tiny_config()).save_pretrained(tmp_path / "heads3d64-linked", extra=links)
    TriplaneGenerator(tiny_config()).save_pretrained(tmp_path / "heads3d64-baseline")
    Segmenter(SegmenterConfig(channels=(4, 8))).save_pretrained(tmp_path / "heads3d64-segmenter")
    AttributeOracle(OracleConfig(channels=(8, 16))).save_pretrained(tmp_path / "heads3d64-oracle")
    monkeypatch.setattr(hub, "CHECKPOINTS_DIR", tmp_path)
    out = SECTIONS["linkage3d"](quick=True)
    assert {"mse_in", "mse_out", "depth_in"} <= set(out["mouth"]) and "mouth" in out["baseline"]
    assert set(out["mouth"]["control"]["linked"]) == {"mouth"} and "control" in out["baseline"]["mouth"]
    q = out["quality"]
    assert q["fd_linked"] > 0 and q["fd_ratio"] == round(q["fd_linked"] / q["fd_baseline"], 3)
    assert set(out["view_consistency"]["linked"]) == set(OracleConfig().attributes)
    # None: an attribute every face hides by its reading (an untrained oracle may see sunglasses on every face)
    assert all(v is None or 0 < v <= 1 for v in out["view_consistency"]["baseline"].values())
    data = out["data_view_consistency"]
    assert data["heads"] == 32 and set(data["agreement"]) == set(OracleConfig().attributes)
    assert out["render_ms_per_view"] > 0


class HalvesOracle:
    """Reads 'eyes' from the sign of the cap's green (axis 0) and 'background' from the sign of the lower half's green
    (axis 2, and axis 0 too on the broken generator), with full confidence, from whichever view it sees."""

    class config:   # noqa: N801  (the oracle's interface: config.attributes)
        attributes = {"eyes": ["open", "closed"], "background": ["white", "grey"]}

    def probabilities(self, img):
        red, green = img[:, 0], img[:, 1]
        def sign(part):
            g = (green * part).sum((1, 2)) / part.sum((1, 2)).clamp(min=1)
            return torch.stack([g > 0, g <= 0], 1).float()
        return {"eyes": sign((red > 0).float()), "background": sign(((red < 0) & (red > -0.9)).float())}


def test_region_control_over_views_tells_a_perfect_link_from_a_broken_one():
    from linkgan.metrics3d import region_control_3d
    link = Link("cap", axes=(0, 2), label=1, attributes=("eyes",))
    perfect = region_control_3d(TwoHalves(), [link], HalvesOracle(), seeds=range(40), views=VIEWS)["cap"]
    broken = region_control_3d(TwoHalves(broken=True), [link], HalvesOracle(), seeds=range(40), views=VIEWS)["cap"]
    assert perfect["linked"]["eyes"] > 0.3 and perfect["unlinked"]["eyes"] == 0 and perfect["elsewhere"] == 0
    assert broken["elsewhere"] > 0.1                                    # axis 0 also turns the lower half's colour


def test_region_control_after_the_link_metrics_renders_no_face_again():
    """Sharing `renders`, region control over views reads the faces the link metrics rendered (the same codes at the
    same batch size) and gives what it gives alone."""
    from linkgan.metrics3d import region_control_3d
    link = Link("cap", axes=(0, 2), label=1, attributes=("eyes",))

    class Counted(TwoHalves):
        calls = 0

        def render(self, ws, camera, noise_mode="const"):
            Counted.calls += 1
            return super().render(ws, camera, noise_mode)
    G, renders = Counted(), {}
    link_metrics_3d(G, [link], seeds=range(8), views=VIEWS, segmenter=red_is_the_cap, batch_size=4, renders=renders)
    before = Counted.calls
    shared = region_control_3d(G, [link], HalvesOracle(), seeds=range(8), views=VIEWS, batch_size=4, renders=renders)
    assert Counted.calls == before
    alone = region_control_3d(G, [link], HalvesOracle(), seeds=range(8), views=VIEWS, batch_size=4)
    assert Counted.calls > before and alone == shared
