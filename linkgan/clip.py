"""CLIP for StyleCLIP (Patashnik et al. 2021, Sec. 3; docs/methods.md, "StyleCLIP"): an adapter over open_clip.

`CLIPAdapter.load(name)` takes an open_clip model name + pretrained tag ("ViT-B-32/openai", or "ViT-B-32" with
pretrained="openai"), an `hf-hub:org/name` id (resolved by open_clip, offline from a local Hub cache), or the
project's own CLIP: a folder (or registered name such as "toyfaces-clip") holding `open_clip_config.json` +
`open_clip_model.safetensors`, the layout open_clip's Hub loader reads. Generator images in [-1, 1] are
preprocessed differentiably with the model's own input size, resize mode and mean/std; text embeddings are
prompt-ensembled over templates and cached.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

OPEN_CLIP_CONFIG = "open_clip_config.json"
OPEN_CLIP_WEIGHTS = "open_clip_model.safetensors"

Template = Callable[[str], str]


def template_sets() -> dict[str, tuple[Template, ...]]:
    """Named prompt-template sets. "imagenet": OpenAI's 80 ImageNet templates (open_clip ships them), as the
    StyleCLIP paper uses; "imagenet-simple": their 7-template subset; "toyfaces": sentence forms of the toy
    captions (a prompt such as "a face with blond hair" is already in caption form); "none": the prompt as is."""
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES

    return {
        "imagenet": tuple(OPENAI_IMAGENET_TEMPLATES),
        "imagenet-simple": tuple(SIMPLE_IMAGENET_TEMPLATES),
        "toyfaces": (lambda c: c, lambda c: f"{c}.", lambda c: f"{c[:1].upper()}{c[1:]}."),
        "none": (lambda c: c,),
    }


def preprocess_images(images: torch.Tensor, *, size: int | Sequence[int], mean: Sequence[float],
                      std: Sequence[float], interpolation: str = "bicubic", resize_mode: str = "shortest",
                      fill_color: int = 0) -> torch.Tensor:
    """Differentiable twin of open_clip's eval transform: (B, 3, H, W) in [-1, 1] -> (B, 3, h, w) normalised.

    resize_mode "shortest": scale so the image covers the target, then centre crop (torchvision's rounding);
    "squash": resize to the target; "longest": scale so it fits, centre, pad with `fill_color` (0-255).
    Resizing is antialiased (PIL's kernels), so it matches open_clip's PIL pipeline up to its uint8 rounding.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must have shape (B, 3, H, W) in [-1, 1], got {tuple(images.shape)}")
    if interpolation not in ("bicubic", "bilinear"):
        raise ValueError(f"interpolation must be 'bicubic' or 'bilinear', got {interpolation!r}")
    th, tw = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    x = (images + 1.0) / 2.0                                                    # (B, 3, H, W) in [0, 1]
    h, w = x.shape[-2:]

    def resize(x, out_h, out_w):
        if (out_h, out_w) == tuple(x.shape[-2:]):
            return x
        return F.interpolate(x, size=(out_h, out_w), mode=interpolation, align_corners=False, antialias=True)

    if resize_mode == "squash":
        x = resize(x, th, tw)
    elif resize_mode == "shortest":
        if th == tw:   # torchvision Resize(int): shorter side -> size, longer side truncated
            out = (th, int(th * w / h)) if h <= w else (int(th * h / w), th)
        else:          # open_clip ResizeKeepRatio: cover the target
            scale = max(th / h, tw / w)
            out = (round(h * scale), round(w * scale))
        x = resize(x, *out)
        top, left = int(round((x.shape[-2] - th) / 2.0)), int(round((x.shape[-1] - tw) / 2.0))
        x = x[..., top:top + th, left:left + tw]
    elif resize_mode == "longest":
        scale = min(th / h, tw / w)
        x = resize(x, round(h * scale), round(w * scale))
        ph, pw = th - x.shape[-2], tw - x.shape[-1]
        x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=fill_color / 255.0)
    else:
        raise ValueError(f"resize_mode must be 'shortest', 'longest' or 'squash', got {resize_mode!r}")
    mean_t = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std_t = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - mean_t) / std_t


class CLIPAdapter(nn.Module):
    """A frozen open_clip model with differentiable image preprocessing and cached, ensembled text embeddings."""

    def __init__(self, model: nn.Module, tokenizer, *, name: str = "", templates: str = "imagenet"):
        super().__init__()
        self.model = model.eval().requires_grad_(False)   # gradients flow to the images, never to CLIP
        self.tokenizer = tokenizer                         # open_clip tokenizer (get_tokenizer)
        self.name = name                                   # what it was loaded from (for logs and cards)
        if templates not in template_sets():
            raise ValueError(f"unknown template set {templates!r}; known: {sorted(template_sets())}")
        self.templates = templates                         # default template set for text embeddings
        self._text_cache: dict[tuple[str, str], torch.Tensor] = {}

    # --- loading --------------------------------------------------------------------------------------
    @classmethod
    def load(cls, name: str | os.PathLike, *, pretrained: str | None = None, device: str | torch.device | None = None,
             templates: str | None = None, checkpoints_dir: Path | None = None) -> "CLIPAdapter":
        """`name`: a folder or registered name of a project CLIP, "hf-hub:org/repo", or an open_clip model name with
        its weights: `pretrained` (an open_clip tag or a weights file) or "ViT-B-32/openai" in one string, as the
        CLIs take it. A bare architecture name is refused (its weights would be random). `templates`: None = the
        folder's own choice ("toyfaces" for the toy CLIP) or "imagenet"."""
        import open_clip

        device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        folder = _project_clip_folder(str(name), checkpoints_dir)
        if folder is not None:
            model, tokenizer, meta = load_project_clip(folder)
            adapter = cls(model, tokenizer, name=str(name), templates=templates or meta.get("templates", "imagenet"))
        else:
            arch, pretrained = split_open_clip_name(str(name), pretrained)
            try:
                model = open_clip.create_model(arch, pretrained=pretrained, device="cpu",
                                               **open_clip_model_kwargs(arch, pretrained))
            except Exception as e:         # open_clip wraps the Hub's errors in its own: say when offline is why
                from .hub import offline_hint
                if hint := offline_hint(e):
                    raise RuntimeError(f"CLIP {str(name)!r}: {str(e).splitlines()[0]}{hint}") from e
                raise
            adapter = cls(model, open_clip.get_tokenizer(arch), name=str(name), templates=templates or "imagenet")
        return adapter.to(device)

    # --- images ---------------------------------------------------------------------------------------
    @property
    def preprocess_cfg(self) -> dict:
        """The model's own preprocessing (size, mean, std, interpolation, resize_mode, fill_color)."""
        from open_clip.model import get_model_preprocess_cfg
        from open_clip.transform import PreprocessCfg, merge_preprocess_dict

        cfg = merge_preprocess_dict(PreprocessCfg(), dict(get_model_preprocess_cfg(self.model)))
        size = getattr(getattr(self.model, "visual", None), "image_size", None)
        if size is not None:   # the tower's real input size wins over any stale config entry
            cfg["size"] = size
        return cfg

    @property
    def image_size(self) -> tuple[int, int]:
        size = self.preprocess_cfg["size"]
        return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))

    @property
    def embed_dim(self) -> int:
        return int(self.model.text_projection.shape[1]) if hasattr(self.model, "text_projection") \
            and isinstance(self.model.text_projection, torch.Tensor) else int(self.encode_text(["a"]).shape[1])

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> the model's input (B, 3, h, w), differentiably."""
        c = self.preprocess_cfg
        return preprocess_images(images, size=self.image_size, mean=c["mean"], std=c["std"],
                                 interpolation=c["interpolation"] if c["interpolation"] != "random" else "bicubic",
                                 resize_mode=c["resize_mode"], fill_color=c["fill_color"])

    def encode_image(self, images: torch.Tensor, *, normalize: bool = True) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> image embeddings (B, D), unit length unless normalize=False."""
        feats = self.model.encode_image(self.preprocess(images.to(self._device)))
        return F.normalize(feats, dim=-1) if normalize else feats

    # --- text -----------------------------------------------------------------------------------------
    @property
    def context_length(self) -> int:
        return int(getattr(self.tokenizer, "context_length", 0) or self.model.context_length)

    def token_count(self, text: str) -> int:
        """Tokens of `text` including start/end tokens, untruncated."""
        from open_clip.tokenizer import SimpleTokenizer

        if isinstance(self.tokenizer, SimpleTokenizer):
            return len(self.tokenizer.encode(text)) + 2
        hf = getattr(self.tokenizer, "tokenizer", None)       # open_clip.HFTokenizer wraps a transformers one
        if hf is not None:
            return len(hf(text)["input_ids"])
        raise TypeError(f"cannot count tokens with {type(self.tokenizer).__name__}")

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Tokens (N, context_length); empty prompts and prompts longer than the context raise ValueError
        (open_clip would silently truncate them)."""
        for text in texts:
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"empty prompt {text!r}: describe the edit, e.g. 'a face with blond hair'")
            n = self.token_count(text)
            if n > self.context_length:
                raise ValueError(f"prompt {text[:60]!r}{'...' if len(text) > 60 else ''} has {n} tokens; "
                                 f"{self.name or 'this CLIP'} reads at most {self.context_length}: shorten it")
        return self.tokenizer(list(texts)).to(self._device)

    @torch.no_grad()
    def encode_text(self, texts: Sequence[str], *, normalize: bool = True) -> torch.Tensor:
        """Texts as given (no templates) -> (N, D)."""
        feats = self.model.encode_text(self.tokenize(texts))
        return F.normalize(feats, dim=-1) if normalize else feats

    def text_embedding(self, prompt: str, *, templates: str | None = None) -> torch.Tensor:
        """Prompt-ensembled embedding (D,): each template's embedding normalised, averaged, normalised. Cached."""
        name = templates or self.templates
        key = (prompt, name)
        if key not in self._text_cache:
            try:
                tpl = template_sets()[name]
            except KeyError:
                raise ValueError(f"unknown template set {name!r}; known: {sorted(template_sets())}") from None
            if not isinstance(prompt, str) or not prompt.strip():
                raise ValueError(f"empty prompt {prompt!r}: describe the edit, e.g. 'a face with blond hair'")
            self.tokenize([prompt])                      # the plain prompt must fit, whatever the templates add
            texts = [t(prompt.strip()) for t in tpl]
            texts = [t for t in texts if self.token_count(t) <= self.context_length] or [prompt.strip()]
            self._text_cache[key] = F.normalize(self.encode_text(texts).mean(0), dim=-1)
        return self._text_cache[key]

    def text_direction(self, neutral: str, target: str, *, templates: str | None = None) -> torch.Tensor:
        """delta_t = normalize(E(target) - E(neutral)), (D,) (StyleCLIP Sec. 6)."""
        delta = self.text_embedding(target, templates=templates) - self.text_embedding(neutral, templates=templates)
        if float(delta.norm()) < 1e-6:
            raise ValueError(f"neutral {neutral!r} and target {target!r} give the same text embedding")
        return F.normalize(delta, dim=-1)

    @property
    def _device(self) -> torch.device:
        return next(self.model.parameters()).device


def clip_loss(clip: CLIPAdapter, images: torch.Tensor, text_embedding: torch.Tensor) -> torch.Tensor:
    """D_CLIP = 1 - cos(E_img(preprocess(images)), text_embedding): (B,), differentiable in `images`."""
    feats = clip.encode_image(images)                                        # (B, D), unit length
    t = F.normalize(text_embedding.to(feats).reshape(1, -1), dim=-1)         # (1, D)
    return 1.0 - (feats * t).sum(-1)


# --- the project's own CLIPs: open_clip config + safetensors in a folder -----------------------------------

def split_open_clip_name(name: str, pretrained: str | None) -> tuple[str, str | None]:
    """(open_clip architecture, weights) of a CLIP name that is not a project CLIP: "ViT-B-32/openai" names both
    (the spelling other CLIP tools use); "hf-hub:" / "local-dir:" ids carry their own weights. A built-in
    architecture with no weights raises ValueError, listing its tags: a random CLIP would edit towards nothing."""
    import open_clip

    if pretrained is not None or name.startswith(("hf-hub:", "local-dir:")):
        return name, pretrained
    arch, _, tag = name.partition("/")
    if arch in open_clip.list_models():
        if tag:
            return arch, tag
        tags = open_clip.list_pretrained_tags_by_model(arch)
        raise ValueError(f"{name!r} is an open_clip architecture with no weights named: give them as "
                         f"'{name}/TAG' (or pretrained=TAG); its tags: {', '.join(tags) or 'none'}")
    return name, pretrained


def open_clip_model_kwargs(name: str, pretrained: str | None) -> dict:
    """Extra open_clip.create_model arguments for a built-in model name + pretrained tag: the weights' own
    activation. OpenAI's CLIPs were trained with QuickGELU, which open_clip's plain configs ("ViT-B-32") leave out
    (it only warns); built this way the tag's weights get the activation they were trained with."""
    import open_clip

    if not pretrained or name.startswith("hf-hub:"):
        return {}
    tag = open_clip.get_pretrained_cfg(name, pretrained) or {}
    return {"force_quick_gelu": True} if tag.get("quick_gelu") else {}


def _project_clip_folder(name: str, checkpoints_dir: Path | None) -> Path | None:
    """A folder holding open_clip_config.json for a path or a registered name; None for open_clip names."""
    from .hub import CHECKPOINTS_DIR, REGISTRY

    if name.startswith(("hf-hub:", "local-dir:")):
        return None
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    entry = REGISTRY.get(name)
    if entry is not None and entry.kind == "CLIP" and entry.local:
        folder = Path(checkpoints_dir or CHECKPOINTS_DIR) / entry.local
        if (folder / OPEN_CLIP_CONFIG).is_file():
            return folder
        from .hub import WeightsNotFoundError
        raise WeightsNotFoundError(f"{name!r} is registered at {folder}, but it holds no {OPEN_CLIP_CONFIG} "
                                   f"(not trained yet? see training/train_clip.py)")
    return None


def load_project_clip(folder: str | os.PathLike) -> tuple[nn.Module, object, dict]:
    """Build the open_clip model of `folder`/open_clip_config.json and load its safetensors strictly.
    Returns (model, tokenizer, the config's "linkgan" metadata)."""
    import open_clip
    from open_clip.model import set_model_preprocess_cfg
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    from .hub import WeightsFormatError, WeightsNotFoundError, load_state

    folder = Path(folder)
    try:
        data = json.loads((folder / OPEN_CLIP_CONFIG).read_text())
    except FileNotFoundError:
        raise WeightsNotFoundError(f"no {OPEN_CLIP_CONFIG} in {folder}") from None
    except json.JSONDecodeError as e:
        raise WeightsFormatError(f"{folder / OPEN_CLIP_CONFIG} is not valid JSON: {e}") from e
    if "model_cfg" not in data:
        raise WeightsFormatError(f"{folder / OPEN_CLIP_CONFIG} has no 'model_cfg'")
    model = build_open_clip(data["model_cfg"])
    load_state(model, folder / OPEN_CLIP_WEIGHTS)          # strict, names every mismatch
    pp = merge_preprocess_dict(PreprocessCfg(), data.get("preprocess_cfg", {}))
    pp["size"] = model.visual.image_size
    set_model_preprocess_cfg(model, pp)
    tokenizer = open_clip.get_tokenizer(f"local-dir:{folder}")
    return model.eval(), tokenizer, data.get("linkgan", {})


def build_open_clip(model_cfg: dict) -> nn.Module:
    """An open_clip CLIP (or CustomTextCLIP) from a model config dict, randomly initialised."""
    import open_clip

    cfg = dict(model_cfg)
    custom = cfg.pop("custom_text", False)
    return (open_clip.CustomTextCLIP if custom else open_clip.CLIP)(**cfg)


def save_project_clip(model: nn.Module, folder: str | os.PathLike, *, model_cfg: dict, preprocess_cfg: dict,
                      meta: dict | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write open_clip_config.json ({"model_cfg", "preprocess_cfg", "linkgan": meta}) and
    open_clip_model.safetensors atomically: the layout open_clip reads from the Hub (`hf-hub:`) or `local-dir:`."""
    from safetensors.torch import save

    from .hub import _atomic_write_bytes

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in model.state_dict().items()}
    pp = {k: (list(v) if isinstance(v, tuple) else v) for k, v in preprocess_cfg.items()}
    _atomic_write_bytes(folder / OPEN_CLIP_WEIGHTS, save(state, metadata={"format": "pt"}))
    data = {"model_cfg": model_cfg, "preprocess_cfg": pp, "linkgan": meta or {}}
    _atomic_write_bytes(folder / OPEN_CLIP_CONFIG, json.dumps(data, indent=2).encode())
    return folder

