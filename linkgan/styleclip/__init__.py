"""StyleCLIP (Patashnik et al. 2021): text-driven editing of a StyleGAN2 generator with CLIP
(docs/methods.md, "StyleCLIP").

Three methods, each working on any `linkgan.networks.Generator` and `linkgan.clip.CLIPAdapter`:
latent optimization in W+ (`optimize.py`, Sec. 4), the latent mapper (`mapper.py`, Sec. 5) and global
directions in style space S (`global_directions.py`, Sec. 6; per-prompt alpha / beta tuned by `tuning.py`).
"""
from .convert import StyleCLIPMapperError, convert_styleclip_state, load_styleclip_mapper
from .global_directions import (GlobalDirections, GlobalEdit, StyleStats, add_style_offset, channel_relevance,
                                compute_style_stats, edit_channels, edit_from_neutrals, edit_neutral_text,
                                flatten_styles, neutral_choices, pick_neutrals)
from .identity import FeatureIdentity, RegionContent, clip_identity
from .mapper import GROUPS, LatentMapper, MapperConfig, mapper_groups, train_mapper
from .optimize import OptimizeResult, optimize_latent, styleclip_lr
from .tuning import BARS, best_cell, global_edit, passes, tune_global
from .zoo import (DIRECTIONS_FILE, EDIT_REGIONS, PROMPTS_FILE, REGION_OPTIMIZE, ZOO_MAPPER_GROUPS, ZOO_PROMPTS,
                  ZooPrompt, described_neutral, load_directions, load_global_settings, load_mapper, region_content,
                  region_mask, region_optimize_args, seed_ws, styleclip_folder)

__all__ = [
    "BARS", "DIRECTIONS_FILE", "EDIT_REGIONS", "GROUPS", "PROMPTS_FILE", "REGION_OPTIMIZE", "ZOO_MAPPER_GROUPS",
    "ZOO_PROMPTS",
    "FeatureIdentity", "GlobalDirections", "GlobalEdit", "LatentMapper", "MapperConfig", "OptimizeResult",
    "RegionContent", "StyleCLIPMapperError", "StyleStats", "ZooPrompt", "add_style_offset", "channel_relevance",
    "best_cell", "clip_identity", "compute_style_stats", "convert_styleclip_state", "described_neutral",
    "edit_channels", "edit_from_neutrals", "edit_neutral_text", "flatten_styles", "global_edit", "load_directions",
    "load_global_settings", "load_mapper", "load_styleclip_mapper", "mapper_groups", "neutral_choices",
    "optimize_latent", "passes", "pick_neutrals", "region_content", "region_mask", "region_optimize_args", "seed_ws",
    "styleclip_folder", "styleclip_lr", "train_mapper", "tune_global",
]
