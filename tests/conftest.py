"""Shared test setup: offline Hugging Face Hub (set before huggingface_hub is imported), 1 CPU thread,
and the tiny generator config every network test builds on."""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"                       # never touch the network from a test
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

from linkgan.networks import GeneratorConfig  # noqa: E402

# One intra-op thread, not two: these tiny ops gain nothing from a second thread, and when anything else
# runs on the 2 cores (a training run) two spinning OpenMP threads made the suite ~12x slower (23 s vs 2 s).
torch.set_num_threads(1)


@pytest.fixture
def tiny_g_config() -> GeneratorConfig:
    """16 px, 32-d latents, 2-layer mapping, at most 16 channels: builds and runs in milliseconds."""
    return GeneratorConfig(resolution=16, z_dim=32, w_dim=32, n_mlp=2, channel_base=256, channel_max=16)


@pytest.fixture
def training_script():
    """load(name) -> the module training/<name>.py (the scripts are a package of the editable install)."""
    import importlib
    return lambda name: importlib.import_module(f"training.{name}")


@pytest.fixture
def resumes_exactly(tmp_path):
    """check(make_trainer, steps, stop): a run of `steps` and a run stopped at `stop`, then resumed from its checkpoint
    to `steps`, end with identical G, D and G_ema, and training moved G. make_trainer(out, steps) builds a trainer
    (the 2D or the 3D one); returns the uninterrupted trainer."""
    def check(make_trainer, steps: int, stop: int):
        full = make_trainer(tmp_path / "full", steps)
        full.train()
        make_trainer(tmp_path / "part", stop).train()         # stops with a checkpoint
        resumed = make_trainer(tmp_path / "part", steps)
        resumed.load_checkpoint(tmp_path / "part" / "checkpoint.pt")
        assert resumed.step == stop
        resumed.train()
        for name in ("G", "D", "G_ema"):
            a, b = getattr(full, name).state_dict(), getattr(resumed, name).state_dict()
            for k in a:
                assert torch.equal(a[k], b[k]), f"{name}.{k} differs after resume"
        fresh = make_trainer(tmp_path / "fresh", 1).G.state_dict()
        assert any(not torch.equal(v, fresh[k]) for k, v in full.G.state_dict().items()), "training did not change G"
        return full
    return check


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """The app, launched once per test session on a free loopback port with a tiny linked generator and a tiny 3D
    one (APP_TEST_MODEL=toyfaces64-linked runs the same tests on the shipped one, e.g. for docs/ screenshots;
    APP_TEST_MODEL3D a 3D generator folder)."""
    from app_server import AppServer, tiny_generator3d, tiny_linked_generator
    model = os.environ.get("APP_TEST_MODEL") or tiny_linked_generator(tmp_path_factory.mktemp("app") / "tiny-linked")
    model3d = os.environ.get("APP_TEST_MODEL3D") or tiny_generator3d(tmp_path_factory.mktemp("app3d") / "tiny-3d")
    server = AppServer(model, extra_args=("--model3d", str(model3d)))
    yield server
    server.close()


@pytest.fixture(scope="session")
def expected(app_server):
    """What each request should return: a Studio on the app server's weights, in this process."""
    from linkgan.studio import Studio
    return Studio.load(str(app_server.proc.args[app_server.proc.args.index("--model") + 1]))


@pytest.fixture(scope="session")
def expected3d(app_server):
    """What each 3D request should return: a Studio3D on the app server's 3D weights, in this process."""
    from linkgan.studio.heads import Studio3D
    return Studio3D.load(str(app_server.proc.args[app_server.proc.args.index("--model3d") + 1]))
