"""Weights I/O: `save_pretrained` / `from_pretrained` with config.json + model.safetensors, loaded strictly.

A name resolves, in order, to: a local folder; a registered weight set (REGISTRY); a folder under
`checkpoints/`; a Hugging Face Hub repo id (through huggingface_hub, so a local Hub cache works offline
with HF_HUB_OFFLINE=1). No pickles: weights are safetensors; configs are JSON dataclasses.
"""
from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CHECKPOINTS_DIR = Path(__file__).resolve().parent.parent / "checkpoints"


class WeightsNotFoundError(FileNotFoundError):
    """No weights under a name; the message lists every place that was looked at."""


class WeightsFormatError(ValueError):
    """Weights or config found but unusable (damaged file, wrong model type, mismatched tensors)."""


@dataclass(frozen=True)
class WeightSet:
    """A named set of weights: a folder under checkpoints/ and/or a Hub repo (+ subfolder)."""
    name: str
    kind: str                       # model class it holds: "Generator", "Segmenter", ...
    description: str
    local: str | None = None        # folder under checkpoints/
    repo_id: str | None = None      # Hugging Face Hub repo id
    subfolder: str | None = None    # folder inside the Hub repo
    revision: str | None = None


# One registry for every weight set the project knows. Shipped sets live in checkpoints/; each has a
# model card (README.md) beside its weights saying how it was trained and what it measures.
REGISTRY: dict[str, WeightSet] = {w.name: w for w in [
    WeightSet("toyfaces64-linked", "Generator",
              "64 px StyleGAN2 on toy faces with three LinkGAN links (eyes box, mouth box, semantic hair)",
              local="toyfaces64-linked"),
    WeightSet("toyfaces64-baseline", "Generator",
              "the same 64 px generator trained without links (quality baseline)",
              local="toyfaces64-baseline"),
    WeightSet("toyfaces64-segmenter", "Segmenter",
              "tiny U-Net part segmenter for 64 px toy faces (semantic link masks and region metrics)",
              local="toyfaces64-segmenter"),
    WeightSet("toyfaces-clip", "CLIP",
              "small open_clip CLIP (ViT, 64 px) trained on toy-face captions; open_clip_config.json + safetensors",
              local="toyfaces-clip"),
    WeightSet("toyfaces64-oracle", "AttributeOracle",
              "small CNN classifying every toy-face attribute (scores text edits independently of CLIP)",
              local="toyfaces64-oracle"),
    WeightSet("heads3d64-oracle", "AttributeOracle",
              "the attribute classifier trained on renders of the 3D toy heads from every view of the camera range "
              "(3D region control and view consistency)",
              local="heads3d64-oracle"),
    WeightSet("toyfaces64-encoder", "Encoder",
              "e4e-style encoder inverting 64 px toy faces into toyfaces64-linked's W+ (near W); training/train_encoder.py",
              local="toyfaces64-encoder"),
]}
DEFAULT_GENERATOR = "toyfaces64-linked"
DEFAULT_ENCODER = "toyfaces64-encoder"
DEFAULT_SEGMENTER = "toyfaces64-segmenter"   # part labels: semantic links, edits kept inside a region


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def config_to_dict(config: Any) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}


def config_from_dict(config_class: type, data: dict, *, source: str = "config") -> Any:
    """Build a config dataclass, rejecting unknown or mistyped fields with a clear message."""
    fields = {f.name for f in dataclasses.fields(config_class)}
    unknown = sorted(set(data) - fields)
    if unknown:
        raise WeightsFormatError(f"{source}: unknown {config_class.__name__} field(s) {unknown}; "
                                 f"known fields are {sorted(fields)}")
    try:
        return config_class(**data)
    except (TypeError, ValueError) as e:
        raise WeightsFormatError(f"{source}: invalid {config_class.__name__}: {e}") from e


def save_model(model: torch.nn.Module, folder: str | os.PathLike, *, extra: dict | None = None,
               dtype: torch.dtype | None = None) -> Path:
    """Write config.json (model type + config + `extra`) and model.safetensors into `folder`, atomically.
    dtype: cast the parameters (not the buffers: w_avg and other statistics stay exact) to it, e.g. float16."""
    from safetensors.torch import save

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    params = {name for name, _ in model.named_parameters()}
    state = {k: (v.to(dtype) if dtype is not None and k in params and v.is_floating_point() else v)
             .detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"model_type": type(model).__name__, "config": config_to_dict(model.config), **(extra or {})}
    if dtype is not None:
        meta["weights_dtype"] = str(dtype).removeprefix("torch.")      # what the parameters are stored in
    _atomic_write_bytes(folder / WEIGHTS_NAME, save(state, metadata={"format": "pt"}))
    _atomic_write_bytes(folder / CONFIG_NAME, json.dumps(meta, indent=2).encode())
    return folder


def read_config(folder: Path) -> dict:
    path = folder / CONFIG_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise WeightsNotFoundError(f"no {CONFIG_NAME} in {folder}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WeightsFormatError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(data, dict) or "config" not in data or "model_type" not in data:
        raise WeightsFormatError(f"{path} must be a JSON object with 'model_type' and 'config'")
    return data


def key_mismatch(missing: list[str], unexpected: list[str], wrong: list[str], *, wrong_label: str = "wrong shape",
                 limit: int | None = 8) -> str:
    """One line naming the missing, unexpected and wrong tensors of a state dict (at most `limit` of each)."""
    def part(label: str, items: list[str]) -> str:
        shown = items if limit is None else items[:limit]
        return f"{label} {len(items)}: {shown}{' ...' if len(shown) < len(items) else ''}"
    return "; ".join(part(label, items) for label, items in
                     (("missing", missing), ("unexpected", unexpected), (wrong_label, wrong)) if items)


def load_state(model: torch.nn.Module, weights_path: Path) -> None:
    """Strict load with a message naming every missing, unexpected or mis-shaped tensor."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(weights_path))
    except FileNotFoundError:
        raise WeightsNotFoundError(f"no {weights_path.name} in {weights_path.parent}") from None
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise WeightsFormatError(f"{weights_path} is damaged or not a safetensors file: {e}") from e
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if state[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        raise WeightsFormatError(f"{weights_path} does not match {type(model).__name__}: "
                                 + key_mismatch(missing, unexpected, shapes))
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)


def resolve(name_or_path: str | os.PathLike, *, checkpoints_dir: Path | None = None,
            revision: str | None = None) -> Path:
    """Find the local folder holding config.json + model.safetensors for a name (see module doc)."""
    checkpoints_dir = Path(checkpoints_dir or CHECKPOINTS_DIR)
    name = str(name_or_path)
    looked: list[str] = []

    path = Path(name).expanduser()
    if path.is_dir():
        return path
    looked.append(f"local folder {path.resolve()} (not found)")

    entry = REGISTRY.get(name)
    if entry is not None and entry.local:
        local = checkpoints_dir / entry.local
        if (local / CONFIG_NAME).is_file():
            return local
        looked.append(f"registered weight set {name!r} at {local} (not present)")
    elif (checkpoints_dir / name / CONFIG_NAME).is_file():
        return checkpoints_dir / name
    else:
        looked.append(f"{checkpoints_dir / name} (not present)")

    repo_id, subfolder, rev = name, None, revision
    if entry is not None:
        repo_id, subfolder, rev = entry.repo_id, entry.subfolder, revision or entry.revision
    if repo_id and _looks_like_repo_id(repo_id):
        try:
            return _download(repo_id, subfolder, rev)
        except Exception as e:  # huggingface_hub raises many types; report them all the same way
            looked.append(f"Hugging Face Hub repo {repo_id!r}{f' /{subfolder}' if subfolder else ''}: "
                          f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}{offline_hint(e)}")
    known = ", ".join(sorted(REGISTRY))
    raise WeightsNotFoundError(f"no weights found for {name!r}. Looked for: " + "; ".join(looked)
                               + f". Registered names: {known}.")


def offline_hint(error: BaseException) -> str:
    """A sentence to add to a failed Hub lookup when it failed only because lookups are offline (HF_HUB_OFFLINE=1,
    which the app and the tests set) and the file is not in the local Hub cache; "" otherwise."""
    from huggingface_hub import constants
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    chain, e = [], error
    while e is not None and len(chain) < 8:
        chain.append(e)
        e = e.__cause__ or e.__context__
    cache_miss = any(isinstance(x, (LocalEntryNotFoundError, OfflineModeIsEnabled)) for x in chain) \
        or "local cache" in str(error)
    if not (constants.HF_HUB_OFFLINE and cache_miss):
        return ""
    return (f" (Hub lookups are offline, HF_HUB_OFFLINE=1, and the file is not in the Hub cache "
            f"{constants.HF_HUB_CACHE}: set HF_HUB_OFFLINE=0 to download it)")


def _looks_like_repo_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~"))


def _download(repo_id: str, subfolder: str | None, revision: str | None) -> Path:
    from huggingface_hub import hf_hub_download

    cfg = hf_hub_download(repo_id, CONFIG_NAME, subfolder=subfolder, revision=revision)
    hf_hub_download(repo_id, WEIGHTS_NAME, subfolder=subfolder, revision=revision)
    return Path(cfg).parent


class ModelHubMixin:
    """Adds `save_pretrained(folder)` and `from_pretrained(name_or_path)` to a module whose constructor
    takes one config dataclass (`config_class`) stored as `self.config`."""

    config_class: type

    def save_pretrained(self, folder: str | os.PathLike, *, extra: dict | None = None,
                        dtype: torch.dtype | None = None) -> Path:
        return save_model(self, folder, extra=extra, dtype=dtype)

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, *, device: str | torch.device | None = None,
                        checkpoints_dir: Path | None = None, revision: str | None = None):
        """A registered name, a local folder or a Hub repo id (`resolve`). Weights in another project's format are
        converted to such a folder first (linkgan.convert, e.g. `from_rosinality_hub`)."""
        folder = resolve(name_or_path, checkpoints_dir=checkpoints_dir, revision=revision)
        meta = read_config(folder)
        if meta["model_type"] != cls.__name__:
            raise WeightsFormatError(f"{folder} holds a {meta['model_type']}, not a {cls.__name__}")
        config = config_from_dict(cls.config_class, meta["config"], source=str(folder / CONFIG_NAME))
        model = cls(config)
        load_state(model, folder / WEIGHTS_NAME)
        model.metadata = {k: v for k, v in meta.items() if k not in ("model_type", "config")}
        model.source_folder = folder
        return model.eval().requires_grad_(False).to(device or "cpu")
