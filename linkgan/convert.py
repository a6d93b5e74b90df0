"""Converter for StyleGAN2 checkpoints (Karras et al. 2020) in the layout of rosinality/stylegan2-pytorch.

Its `.pt` files hold {"g_ema": generator state, optionally "g", "d", "latent_avg", training state}. linkgan's
layers follow that parameter layout, so conversion renames tensors and drops a leading axis; each tensor is
checked against the options, and missing, unexpected or mis-shaped tensors are named in the error.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

import torch

from .hub import CONFIG_NAME, WeightsFormatError, WeightsNotFoundError
from .layers import fir_kernel
from .networks import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig

FORMAT = "rosinality/stylegan2-pytorch"
BLUR_TAPS = (1, 3, 3, 1)           # the FIR of the published models; other taps are refused, not guessed
# what a checkpoint of that project may hold besides the networks (its train.py saves optimiser state too)
TOP_LEVEL_KEYS = ("g_ema", "g", "d", "latent_avg", "g_optim", "d_optim", "args", "ada_aug_p", "iter")


class ConversionError(WeightsFormatError):
    """A foreign checkpoint that cannot be converted: unreadable, refused, or not matching the options."""


class _TrainingArgs:
    """Stands in for argparse.Namespace when unpickling the `args` entry of that project's training
    checkpoints: the allow-list maps the pickled name here, so only attributes are restored, nothing runs."""


# --- the channel schedule -----------------------------------------------------------------------------

def rosinality_channels(size: int, channel_multiplier: int, channel_max: int = 512) -> dict[int, int]:
    """Channels per resolution in that layout: `channel_max` up to 32 px, then 256*cm at 64 px, halving
    with each doubling (16*cm at 1024 px)."""
    return {2 ** k: channel_max if 2 ** k <= 32 else 16384 * channel_multiplier // 2 ** k
            for k in range(2, int(size).bit_length())}


def _schedule(size: int, channel_multiplier: int, channel_max: int) -> tuple[int, int]:
    """(channel_base, channel_max) that reproduce the layout's channels at every resolution up to `size`."""
    if not isinstance(channel_multiplier, int) or channel_multiplier < 1:
        raise ConversionError(f"channel_multiplier must be a positive integer, got {channel_multiplier!r}")
    if not isinstance(channel_max, int) or channel_max < 1:
        raise ConversionError(f"channel_max must be a positive integer, got {channel_max!r}")
    base = 16384 * channel_multiplier
    want = rosinality_channels(size, channel_multiplier, channel_max)
    got = {r: min(channel_max, base // r) for r in want}
    if got != want:
        raise ConversionError(
            f"channel_multiplier={channel_multiplier} with channel_max={channel_max} gives channels {want}, "
            f"which linkgan's schedule min(channel_max, channel_base // r) cannot express (it would give {got})")
    return base, channel_max


def generator_config(*, size: int, style_dim: int, n_mlp: int, channel_multiplier: int,
                     channel_max: int = 512) -> GeneratorConfig:
    base, cmax = _schedule(size, channel_multiplier, channel_max)
    try:
        return GeneratorConfig(resolution=size, z_dim=style_dim, w_dim=style_dim, n_mlp=n_mlp, lr_mlp=0.01,
                               channel_base=base, channel_max=cmax, blur_taps=BLUR_TAPS)
    except ValueError as e:
        raise ConversionError(str(e)) from None


def discriminator_config(*, size: int, channel_multiplier: int, channel_max: int = 512) -> DiscriminatorConfig:
    base, cmax = _schedule(size, channel_multiplier, channel_max)
    return DiscriminatorConfig(resolution=size, channel_base=base, channel_max=cmax, mbstd_group=4,
                               mbstd_features=1, blur_taps=BLUR_TAPS)


# --- names and shapes ---------------------------------------------------------------------------------

Names = dict[str, tuple[str, tuple[int, ...], tuple[int, ...]]]   # foreign -> (linkgan name, shapes)


def _generator_names(G: Generator) -> Names:
    """{foreign name: (linkgan name, foreign shape, linkgan shape)} for every tensor of G but w_avg."""
    out = {}
    for name, t in G.state_dict().items():
        shape = tuple(t.shape)
        if name == "w_avg":
            continue
        if name.startswith("mapping.layers."):          # the layout's index 0 is the pixel norm
            i, param = name.removeprefix("mapping.layers.").split(".")
            out[f"style.{int(i) + 1}.{param}"] = (name, shape, shape)
            continue
        foreign = {"synthesis.const": "input.input"}.get(name, name.removeprefix("synthesis."))
        foreign = re.sub(r"^noise_(\d+)$", r"noises.noise_\1", foreign)
        foreign = foreign.replace(".conv.affine.", ".conv.modulation.").replace(".act.bias", ".activate.bias")
        stored = shape
        if foreign.endswith(".conv.weight"):
            stored = (1, *shape)                         # modulated conv weights are stored (1, O, I, k, k)
        elif re.fullmatch(r"to_rgb(1|s\.\d+)\.bias", foreign):
            stored = (1, 3, 1, 1)
        out[foreign] = (name, stored, shape)
    return out


def _discriminator_names(D: Discriminator) -> Names:
    return {re.sub(r"^blocks\.", "convs.", name): (name, tuple(t.shape), tuple(t.shape))
            for name, t in D.state_dict().items()}


def _generator_kernels(cfg: GeneratorConfig) -> dict[str, torch.Tensor]:
    """The FIR buffers the layout saves: one per upsampling conv and per upsampling ToRGB skip (gain 4)."""
    up = fir_kernel(cfg.blur_taps, gain=4.0)
    n = cfg.log2_res - 2
    return {**{f"convs.{2 * i}.conv.blur.kernel": up for i in range(n)},
            **{f"to_rgbs.{i}.upsample.kernel": up for i in range(n)}}


def _discriminator_kernels(cfg: DiscriminatorConfig) -> dict[str, torch.Tensor]:
    down = fir_kernel(cfg.blur_taps)
    n = int(cfg.resolution).bit_length() - 3                 # residual blocks: convs.1 .. convs.n
    return {f"convs.{i}.{part}.0.kernel": down for i in range(1, n + 1) for part in ("conv2", "skip")}


def _option_problems(g: dict, *, size: int, style_dim: int, n_mlp: int) -> list[str]:
    """Say which option disagrees with the file, in words, before the tensor-by-tensor report."""
    problems = []
    mlp = sorted(int(m[1]) for k in g if (m := re.fullmatch(r"style\.(\d+)\.weight", k)))
    if mlp and len(mlp) != n_mlp:
        problems.append(f"n_mlp={n_mlp} does not fit: the file has {len(mlp)} mapping layers "
                        f"(style.{mlp[0]} .. style.{mlp[-1]})")
    w = g.get("style.1.weight")
    if isinstance(w, torch.Tensor) and w.ndim == 2 and w.shape[1] != style_dim:
        problems.append(f"style_dim={style_dim} does not fit: style.1.weight has shape {tuple(w.shape)}, "
                        f"i.e. style_dim={w.shape[1]}")
    rgbs = sum(bool(re.fullmatch(r"to_rgbs\.\d+\.conv\.weight", k)) for k in g)
    if rgbs and 2 ** (rgbs + 2) != size:
        problems.append(f"size={size} does not fit: the file has {rgbs} upsampling blocks (to_rgbs.*), "
                        f"i.e. size={2 ** (rgbs + 2)}")
    return problems


def _take(state: dict, names: Names, kernels: dict[str, torch.Tensor], *, part: str, options: str,
          problems: list[str], optional: frozenset[str] = frozenset()) -> dict[str, torch.Tensor]:
    """Rename and reshape `state` into linkgan names; raise ConversionError naming every mismatch."""
    missing = [k for k in names if k not in state and k not in optional]
    missing += [k for k in kernels if k not in state]
    extra = [k for k in state if k not in names and k not in kernels]
    shapes, bad_kernels = [], []
    for key, value in state.items():
        if key in names and not isinstance(value, torch.Tensor):
            shapes.append(f"{key}: a {type(value).__name__}, not a tensor")
        elif key in names and tuple(value.shape) != names[key][1]:
            shapes.append(f"{key}: file {tuple(value.shape)} vs expected {names[key][1]}")
        elif key in kernels and not (isinstance(value, torch.Tensor) and value.shape == kernels[key].shape
                                     and torch.allclose(value.float(), kernels[key], atol=1e-6)):
            bad_kernels.append(key)
    report = list(problems)
    for label, keys in (("missing", missing), ("unexpected", extra), ("wrong shape", shapes),
                        (f"blur kernel other than {list(BLUR_TAPS)}", bad_kernels)):
        if keys:
            report.append(f"{label} ({len(keys)}): {', '.join(keys[:8])}{' ...' if len(keys) > 8 else ''}")
    if report:
        raise ConversionError(f"'{part}' is not a {FORMAT} network with {options}: " + "; ".join(report))
    return {names[k][0]: v.detach().reshape(names[k][2]).float() for k, v in state.items() if k in names}


# --- conversion ---------------------------------------------------------------------------------------

def convert_rosinality(state: dict, *, size: int, style_dim: int = 512, n_mlp: int = 8,
                       channel_multiplier: int = 2,     # 2 for config-f (FFHQ 1024), 1 for config-e
                       channel_max: int = 512,          # channels up to 32 px: 512 in that code (smaller: tests)
                       w_avg_samples: int = 10_000,     # z samples to estimate w_avg when the file has no latent_avg
                       ) -> tuple[Generator, Discriminator | None]:
    """A checkpoint dict in that layout -> (EMA generator, discriminator or None), in eval mode on the CPU.

    w_avg comes from `latent_avg` when present, else the mean of `w_avg_samples` mapped z (seed 0). The
    `noises.noise_N` buffers become linkgan's const noise; a file without any keeps seeded random maps.
    """
    if not isinstance(state, dict):
        raise ConversionError(f"a {FORMAT} checkpoint is a dict, got a {type(state).__name__}")
    unknown = [k for k in state if k not in TOP_LEVEL_KEYS]
    if "g_ema" not in state or unknown:
        hint = " (it looks like a bare generator state dict: wrap it as {'g_ema': state})" \
            if "input.input" in state else ""
        raise ConversionError(f"expected a dict with 'g_ema' and only the keys {list(TOP_LEVEL_KEYS)}; got "
                              f"keys {[str(k) for k in state][:12]}{hint}")
    g_state = state["g_ema"]
    if not isinstance(g_state, dict):
        raise ConversionError(f"'g_ema' must be a state dict, got a {type(g_state).__name__}")
    G = Generator(generator_config(size=size, style_dim=style_dim, n_mlp=n_mlp,
                                   channel_multiplier=channel_multiplier, channel_max=channel_max))
    channels = rosinality_channels(size, channel_multiplier, channel_max)
    options = (f"size={size}, style_dim={style_dim}, n_mlp={n_mlp}, channel_multiplier={channel_multiplier} "
               f"(channels per resolution {channels})")
    names = _generator_names(G)
    noise_keys = frozenset(k for k in names if k.startswith("noises."))
    no_noise = not any(k in g_state for k in noise_keys)       # older versions of that code saved none
    weights = _take(g_state, names, _generator_kernels(G.config), part="g_ema", options=options,
                    problems=_option_problems(g_state, size=size, style_dim=style_dim, n_mlp=n_mlp),
                    optional=noise_keys if no_noise else frozenset())
    if no_noise:
        rng = torch.Generator().manual_seed(0)
        for name, _, shape in (names[k] for k in names if k in noise_keys):
            weights[name] = torch.randn(shape, generator=rng)
    latent_avg = state.get("latent_avg")
    if latent_avg is not None:
        if not isinstance(latent_avg, torch.Tensor) or latent_avg.numel() != style_dim \
                or latent_avg.ndim > 2 or latent_avg.shape[-1] != style_dim:
            got = tuple(latent_avg.shape) if isinstance(latent_avg, torch.Tensor) else type(latent_avg).__name__
            raise ConversionError(f"'latent_avg': file {got} vs expected ({style_dim},)")
        weights["w_avg"] = latent_avg.detach().reshape(style_dim).float()
    else:
        weights["w_avg"] = G.w_avg
    G.load_state_dict(weights, strict=True)
    if latent_avg is None:
        G.w_avg.copy_(_mean_w(G, w_avg_samples))
    G.metadata = {"converted_from": {
        "format": FORMAT, "size": size, "style_dim": style_dim, "n_mlp": n_mlp,
        "channel_multiplier": channel_multiplier, "channel_max": channel_max,
        "w_avg": "latent_avg" if latent_avg is not None else f"mean of {w_avg_samples} mapped z (seed 0)",
        "noise": "seeded random (the file has no noise buffers)" if no_noise else "noises.noise_N"}}
    G = G.eval().requires_grad_(False)

    D = None
    if state.get("d") is not None:
        d_state = state["d"]
        if not isinstance(d_state, dict):
            raise ConversionError(f"'d' must be a state dict, got a {type(d_state).__name__}")
        D = Discriminator(discriminator_config(size=size, channel_multiplier=channel_multiplier,
                                               channel_max=channel_max))
        blocks = sum(bool(re.fullmatch(r"convs\.\d+\.conv1\.0\.weight", k)) for k in d_state)
        problems = [f"size={size} does not fit: the discriminator has {blocks} residual blocks, i.e. "
                    f"size={2 ** (blocks + 2)}"] if blocks and 2 ** (blocks + 2) != size else []
        weights = _take(d_state, _discriminator_names(D), _discriminator_kernels(D.config), part="d",
                        options=f"size={size}, channel_multiplier={channel_multiplier} (channels per "
                                f"resolution {channels})", problems=problems)
        D.load_state_dict(weights, strict=True)
        D.metadata = {"converted_from": {"format": FORMAT, "size": size,
                                         "channel_multiplier": channel_multiplier, "channel_max": channel_max}}
        D = D.eval().requires_grad_(False)
    return G, D


@torch.no_grad()
def _mean_w(G: Generator, n: int, *, chunk: int = 1000) -> torch.Tensor:
    rng = torch.Generator().manual_seed(0)
    total = torch.zeros(G.config.w_dim)
    for start in range(0, n, chunk):
        z = torch.randn(min(chunk, n - start), G.config.z_dim, generator=rng)
        total += G.mapping(z).sum(0)
    return total / n


# --- files and the Hub --------------------------------------------------------------------------------

def load_rosinality(path: str | os.PathLike) -> dict:
    """Read a .pt file with torch.load(weights_only=True): tensors and plain containers only, never code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        with torch.serialization.safe_globals([(_TrainingArgs, "argparse.Namespace")]):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch reports damage as RuntimeError, EOFError, KeyError, UnpicklingError ...
        text = str(e)
        found = re.search(r"GLOBAL ([\w.]+)", text)          # the unpickler met a class or function
        if found:
            raise ConversionError(f"{path}: refused to load: it holds a Python object ({found[1]}) beyond "
                                  f"tensors and plain containers, which could run code when unpickled; "
                                  f"nothing was executed") from None
        detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
        first = detail[1] if detail else text.strip().splitlines()[0] if text.strip() else type(e).__name__
        raise ConversionError(f"{path} is damaged or not a PyTorch checkpoint: {first}") from None
    if not isinstance(state, dict):
        raise ConversionError(f"{path} holds a {type(state).__name__}, not a {FORMAT} checkpoint dict")
    return state


def convert_file(path: str | os.PathLike, out: str | os.PathLike, **options) -> Path:
    """Convert a .pt file into a weight set folder: the EMA generator in `out`, the discriminator (when
    the file has one) in `out/discriminator`. `options` are those of convert_rosinality."""
    G, D = convert_rosinality(load_rosinality(path), **options)
    out = Path(out)
    G.metadata["converted_from"]["file"] = Path(path).name
    G.save_pretrained(out, extra=G.metadata)
    if D is not None:
        D.save_pretrained(out / "discriminator", extra=D.metadata)
    return out


def download_rosinality(repo_id: str, filename: str, *, revision: str | None = None) -> Path:
    """A .pt file from a Hugging Face Hub repo, through the Hub cache (works offline once cached)."""
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(repo_id, filename, revision=revision))
    except Exception as e:  # huggingface_hub raises many types; report them all the same way
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise WeightsNotFoundError(f"no {filename!r} in Hugging Face Hub repo {repo_id!r}"
                                   f"{f' at {revision}' if revision else ''}: {type(e).__name__}: {first}") from e


def from_rosinality_hub(repo_id: str, filename: str, *, size: int, style_dim: int = 512, n_mlp: int = 8,
                        channel_multiplier: int = 2, channel_max: int = 512, revision: str | None = None,
                        cache_dir: str | os.PathLike | None = None) -> Path:
    """Download (or find in the Hub cache) a .pt file, convert it once and return the converted folder,
    for `Generator.from_pretrained(folder)`. Conversions are cached by repo, commit, file and options under
    `cache_dir` (default $LINKGAN_CACHE or ~/.cache/linkgan, + /converted)."""
    options = dict(size=size, style_dim=style_dim, n_mlp=n_mlp, channel_multiplier=channel_multiplier,
                   channel_max=channel_max)
    local = download_rosinality(repo_id, filename, revision=revision)
    parts = local.parts
    commit = parts[parts.index("snapshots") + 1] if "snapshots" in parts else _file_digest(local)
    tag = "-".join(f"{k}{v}" for k, v in options.items())
    if cache_dir is None:
        cache_dir = Path(os.environ.get("LINKGAN_CACHE") or Path.home() / ".cache" / "linkgan") / "converted"
    root = Path(cache_dir)
    folder = root / repo_id.replace("/", "--") / commit / f"{filename.replace('/', '--')}--{tag}"
    if (folder / CONFIG_NAME).is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".converting-"))
    try:
        convert_file(local, tmp / "set", **options)
        os.replace(tmp / "set", folder)     # atomic: a folder in the cache is always complete
    except OSError:
        if not (folder / CONFIG_NAME).is_file():   # not another process finishing first
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]
