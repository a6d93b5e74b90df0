"""StyleCLIP (Patashnik et al. 2021): text-driven editing of a StyleGAN2 generator with CLIP
(docs/methods.md, "StyleCLIP").

Three methods, each working on any `linkgan.networks.Generator` and `linkgan.clip.CLIPAdapter`:
latent optimization in W+ (`optimize.py`, Sec. 4), the latent mapper (`mapper.py`, Sec. 5) and global
directions in style space S (`global_directions.py`, Sec. 6; per-prompt alpha / beta tuned by `tuning.py`).
`edits.py` runs them as the project does (one table of defaults, the tuned presets): what the command line, the
app and the benchmarks call.
"""
from ..styles import add_style_offset, edit_channels, flatten_styles
from .convert import StyleCLIPMapperError, convert_styleclip_state, load_styleclip_mapper
from .edits import (MAX_ALPHA, TEXT_EDIT_DEFAULTS, GlobalPreset, GlobalTextEdit, TextEditDefaults, edit_global,
                    edit_mapper, edit_optimize, find_preset, global_settings, optimize_settings, tuned_presets)
from .global_directions import (GlobalDirections, GlobalEdit, StyleStats, channel_relevance, compute_style_stats,
                                edit_from_neutrals, edit_neutral_text, neutral_choices, pick_neutrals)
from .identity import FeatureIdentity, RegionContent, clip_identity
from .mapper import (GROUPS, LatentMapper, MapperConfig, MapperLossConfig, MapperOptimConfig, MapperRunConfig,
                     MapperTrainConfig, mapper_groups, train_mapper)
from .optimize import OptimizeResult, optimize_latent
from .tuning import BARS, best_cell, global_edit, passes, tune_global
from .zoo import (DIRECTIONS_FILE, EDIT_REGIONS, PROMPTS_FILE, ZOO_MAPPER_GROUPS, ZOO_PROMPTS, ZooPrompt,
                  described_neutral, load_directions, load_global_settings, load_mapper, region_content, region_mask,
                  seed_ws, styleclip_folder)

__all__ = [
    "BARS", "DIRECTIONS_FILE", "EDIT_REGIONS", "GROUPS", "MAX_ALPHA", "PROMPTS_FILE", "TEXT_EDIT_DEFAULTS",
    "ZOO_MAPPER_GROUPS", "ZOO_PROMPTS",
    "FeatureIdentity", "GlobalDirections", "GlobalEdit", "GlobalPreset", "GlobalTextEdit", "LatentMapper",
    "MapperConfig", "MapperLossConfig", "MapperOptimConfig", "MapperRunConfig", "MapperTrainConfig",
    "OptimizeResult", "RegionContent", "StyleCLIPMapperError", "StyleStats",
    "TextEditDefaults", "ZooPrompt",
    "add_style_offset", "best_cell", "channel_relevance", "clip_identity", "compute_style_stats",
    "convert_styleclip_state", "described_neutral", "edit_channels", "edit_from_neutrals", "edit_global",
    "edit_mapper", "edit_neutral_text", "edit_optimize", "find_preset", "flatten_styles", "global_edit",
    "global_settings", "load_directions", "load_global_settings", "load_mapper", "load_styleclip_mapper",
    "mapper_groups", "neutral_choices", "optimize_latent", "optimize_settings", "passes", "pick_neutrals",
    "region_content", "region_mask", "seed_ws", "styleclip_folder", "train_mapper", "tune_global", "tuned_presets",
]
