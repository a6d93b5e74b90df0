"""LinkGAN links: validation, the regularizer (differentiable, reaches G, does what it promises), resample, metrics."""
import pytest
import torch

from linkgan.links import Link, editing_precision, leakage, link_regularizer, links_from_specs, resample, validate_links
from linkgan.networks import Generator, GeneratorConfig

CFG = GeneratorConfig(resolution=16, z_dim=16, w_dim=16, n_mlp=2, channel_base=256, channel_max=16)
EYES = Link("eyes", (0, 4), box=(0.25, 0.25, 0.75, 0.5))


def synth(G):
    return lambda w: G.synthesize(w, noise_mode="const")


@pytest.mark.parametrize("links, msg", [
    ([Link("a", (0, 20), box=(0, 0, 0.5, 0.5))], "out of range"),
    ([Link("a", (4, 4), box=(0, 0, 0.5, 0.5))], "out of range"),
    ([Link("a", (0, 4), box=(0, 0, 0.5, 0.5)), Link("b", (2, 6), box=(0.5, 0.5, 1, 1))], "share axes"),
    ([Link("a", (0, 4), box=(0, 0, 0.6, 0.6)), Link("b", (4, 8), box=(0.5, 0.5, 1, 1))], "overlapping regions"),
    ([Link("a", (0, 4), box=(0.5, 0.5, 0.5, 0.9))], "box"),
    ([Link("a", (0, 4), box=(0.50, 0.50, 0.51, 0.51))], "empty"),
    ([Link("a", (0, 4))], "exactly one region"),
    ([Link("a", (0, 4), half="middle")], "half must be"),
    ([Link("a", (0, 4), label=2), Link("b", (4, 8), label=2)], "same semantic label"),
])
def test_bad_links_are_rejected(links, msg):
    with pytest.raises(ValueError, match=msg):
        validate_links(links, w_dim=16, resolution=16)


def test_good_links_pass():
    validate_links([EYES, Link("mouth", (4, 8), box=(0.3, 0.6, 0.7, 0.8)), Link("hair", (8, 12), label=2)],
                   w_dim=16, resolution=16)


def test_regularizer_is_differentiable_and_reaches_g():
    torch.manual_seed(0)
    G = Generator(CFG)
    w = G.map(torch.randn(4, 16))
    loss, stats, perturbed = link_regularizer(synth(G), w, [EYES], alpha=1.0, lambda_in=1.0, lambda_out=1.0)
    assert loss.requires_grad and loss > 0 and perturbed.shape == (1, 2, 4, 3, 16, 16)
    loss.backward()
    assert G.synthesis.convs[0].conv.weight.grad.abs().sum() > 0
    assert G.mapping.layers[0].weight.grad.abs().sum() > 0
    assert set(stats) == {"eyes.L_in", "eyes.L_out"}


def test_regularizer_builds_the_link():
    """Fine-tuning with the regularizer beside a term that keeps G's images (a stand-in for the adversarial
    loss) lowers the change outside the region when the linked axes move, against the same run without it.
    The stronger claim (mse_out / mse_in falls) needs adversarial training: see the GAN-level test."""
    torch.manual_seed(1)
    G0 = Generator(CFG).requires_grad_(False)
    torch.manual_seed(2)
    z, z2 = torch.randn(32, 16), torch.randn(32, 16)

    def finetune(with_reg):
        G = Generator(CFG)
        G.load_state_dict(G0.state_dict())
        opt = torch.optim.Adam(G.parameters(), lr=2e-3, betas=(0.0, 0.99))
        torch.manual_seed(3)
        for _ in range(80):
            w = G0.map(torch.randn(8, 16))
            x = synth(G)(w)
            loss = (x - synth(G0)(w)).square().mean()
            if with_reg:
                reg, _, _ = link_regularizer(synth(G), w, [EYES], alpha=1.0, lambda_in=1.0, lambda_out=1.0)
                loss = loss + reg
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            return editing_precision(synth(G), G0.map(z), G0.map(z2), EYES)
    linked, plain = finetune(True), finetune(False)
    assert linked["mse_out"] < 0.5 * plain["mse_out"], (linked, plain)


def test_resample_interpolates_only_the_linked_axes():
    w, w2 = torch.randn(3, 16), torch.randn(3, 16)
    assert torch.equal(resample(w, w2, [EYES], 0.0), w)
    r1 = resample(w, w2, [EYES], 1.0)
    assert torch.equal(r1[:, :4], w2[:, :4]) and torch.equal(r1[:, 4:], w[:, 4:])
    mouth = Link("mouth", (4, 8), box=(0.3, 0.6, 0.7, 0.8))
    both = resample(w, w2, [EYES, mouth], 0.5)
    assert torch.allclose(both[:, :8], (w[:, :8] + w2[:, :8]) / 2) and torch.equal(both[:, 8:], w[:, 8:])
    with pytest.raises(ValueError, match="t must be"):
        resample(w, w2, [EYES], 1.5)
    wp = w[:, None] + 0.1 * torch.randn(3, 5, 16)                               # a W+ code: rows differ
    rp = resample(wp, w2, [EYES], 0.5)                                          # axes move in every row
    assert torch.allclose(rp[..., :4], (wp[..., :4] + w2[:, None, :4]) / 2) and torch.equal(rp[..., 4:], wp[..., 4:])
    rows = w[:, None].expand(3, 5, 16)                                          # a W code as W+: the W edit per row
    assert torch.equal(resample(rows, w2, [EYES])[:, 2], r1)
    with pytest.raises(ValueError, match=r"w_new \(B, w_dim\).*\(3, 5, 16\)"):
        resample(rows, rows, [EYES])


def test_metrics_on_an_ideal_generator():
    """A 'generator' whose eyes box depends only on the linked axes scores mse_out = leak_in = leak_out = 0."""
    box = EYES.fixed_mask(16)

    def fake(w):
        inside = w[:, :4].sum(1).view(-1, 1, 1, 1) * box
        outside = w[:, 4:].sum(1).view(-1, 1, 1, 1) * (1 - box)
        return (inside + outside).expand(-1, 3, -1, -1)
    w, w2 = torch.randn(8, 16), torch.randn(8, 16)
    p = editing_precision(fake, w, w2, EYES)
    l = leakage(fake, w, w2, EYES)
    assert p["mse_in"] > 1 and p["mse_out"] == 0 and l["leak_in"] == 0 and l["leak_out"] == 0
    fake_plus = lambda ws: fake(ws.mean(1))                                     # noqa: E731  the same "G" on W+ rows
    wp = w[:, None] + 0.1 * torch.randn(8, 5, 16)
    p, l = editing_precision(fake_plus, wp, w2, EYES), leakage(fake_plus, wp, w2, EYES)
    assert p["mse_in"] > 1 and p["mse_out"] < 1e-9 and l["leak_in"] < 1e-9 and l["leak_out"] < 1e-9


def test_link_metrics_report_every_link_and_the_ratio():
    from linkgan.links import link_metrics
    torch.manual_seed(0)
    G = Generator(CFG)
    mouth = links_from_specs([{"name": "mouth", "axes": [4, 8], "box": [0.35, 0.58, 0.65, 0.77]}])[0]
    m = link_metrics(G, [EYES, mouth], seeds=range(6), batch_size=4)
    assert set(m) == {"eyes", "mouth"}
    for v in m.values():
        assert set(v) == {"mse_in", "mse_out", "leak_in", "leak_out", "ratio"}
        assert v["mse_in"] > 0 and abs(v["ratio"] - v["mse_out"] / v["mse_in"]) < 1e-2
    chunked, whole = link_metrics(G, [EYES], seeds=range(6), batch_size=4), link_metrics(G, [EYES], seeds=range(6))
    assert chunked["eyes"] == pytest.approx(whole["eyes"], rel=1e-3)      # batching does not change the metric


def test_rotating_w_changes_no_image_and_survives_saving(tmp_path):
    torch.manual_seed(3)
    G = Generator(CFG)
    z = torch.randn(4, 16)
    before = G(z, noise_mode="const")
    r1, r2 = (torch.linalg.qr(torch.randn(16, 16))[0] for _ in range(2))
    G.rotate_w(r1)
    G.rotate_w(r2)                                           # rotations compose
    assert G.config.w_basis
    assert torch.allclose(G(z, noise_mode="const"), before, atol=1e-5)
    assert torch.allclose(G.map(z), G.mapping.layers[-1](G.mapping.layers[0](z * torch.rsqrt(
        z.square().mean(1, keepdim=True) + 1e-8))) @ (r2 @ r1).T, atol=1e-5)
    G.save_pretrained(tmp_path / "g")
    H = Generator.from_pretrained(tmp_path / "g")
    assert torch.allclose(H(z, noise_mode="const"), before, atol=1e-5)
    with pytest.raises(ValueError, match="orthonormal"):
        G.rotate_w(2 * torch.eye(16))


def test_aligned_axes_take_the_directions_that_move_the_region_most():
    """After align_axes + rotate_w, a link's axes score the best value any subspace of their size can score on the
    objective they were chosen by (Ky Fan: the sum of the top eigenvalues of C_in - weight * C_out), and far more
    than the first channels of the unaligned W; the second link takes its directions from what the first left."""
    from linkgan.links import align_axes, region_sensitivity
    torch.manual_seed(4)
    G = Generator(CFG).requires_grad_(False)
    links = [EYES, Link("mouth", (4, 8), box=(0.3, 0.6, 0.7, 0.8))]
    seeds = range(64)

    def score(c_in, c_out, k, a, b):
        s = c_in[k] - 10 * c_out[k]
        return float(torch.diagonal(s)[a:b].sum()), s
    torch.manual_seed(5)                          # the same probes each time: the estimates are then R C R^T
    c_in, c_out = region_sensitivity(G, links, seeds=seeds)
    before, s = score(c_in, c_out, 0, 0, 4)
    best = float(torch.linalg.eigvalsh(s)[-4:].sum())
    torch.manual_seed(5)
    R = align_axes(G, links, seeds=seeds, outside_weight=10)
    assert torch.allclose(R @ R.T, torch.eye(16), atol=1e-4)
    G.rotate_w(R)
    torch.manual_seed(5)
    c_in2, c_out2 = region_sensitivity(G, links, seeds=seeds)
    after, _ = score(c_in2, c_out2, 0, 0, 4)
    assert after == pytest.approx(best, rel=1e-3, abs=1e-3) and best > before + 1
    assert float(torch.diagonal(c_in2[1] - 10 * c_out2[1])[4:8].sum()) > float(torch.diagonal(
        c_in[1] - 10 * c_out[1])[4:8].sum())


def test_more_rounds_of_alignment_never_lower_the_links_total_objective():
    from linkgan.links import align_axes, region_sensitivity
    torch.manual_seed(6)
    G = Generator(CFG).requires_grad_(False)
    links = [EYES, Link("mouth", (4, 8), box=(0.3, 0.6, 0.7, 0.8)), Link("left", (8, 12), box=(0.0, 0.8, 0.3, 1.0))]
    torch.manual_seed(7)
    c_in, c_out = region_sensitivity(G, links, seeds=range(64))

    def total(R):
        return sum(float(torch.trace(R[a:b] @ (c_in[k] - 3 * c_out[k]) @ R[a:b].T))
                   for k, (a, b) in enumerate(l.axes for l in links))
    totals = []
    for rounds in (0, 1, 3):
        torch.manual_seed(7)                          # the same probes: the same C_in, C_out as above
        R = align_axes(G, links, seeds=range(64), outside_weight=3, rounds=rounds)
        assert torch.allclose(R @ R.T, torch.eye(16), atol=1e-4)
        totals.append(total(R))
    assert totals[0] <= totals[1] + 1e-4 <= totals[2] + 2e-4
