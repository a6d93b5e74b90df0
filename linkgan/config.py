"""Grouped config dataclasses (sections such as optimisation, loss and run, as in linkgan.train and
linkgan.encoder_train): one helper that changes settings by their field names without spelling out the section, so
that a call site stays short: `project(G, x, steps=200)` rather than a nested replace.
"""
from __future__ import annotations

import dataclasses


def replace_settings(config, **settings):
    """A copy of a config dataclass with `settings` changed: each name is a field of the config itself or of exactly
    one of its sections (fields that are dataclasses). TypeError for a name no section has, or several share."""
    sections = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)
                if dataclasses.is_dataclass(getattr(config, f.name))}
    own = {f.name for f in dataclasses.fields(config)} - set(sections)
    where: dict[str, list[str]] = {}
    for name, section in sections.items():
        for f in dataclasses.fields(section):
            where.setdefault(f.name, []).append(name)
    top, changes = {}, {name: {} for name in sections}
    for key, value in settings.items():
        if key in own:
            top[key] = value
        elif len(where.get(key, ())) == 1:
            changes[where[key][0]][key] = value
        else:
            kind = type(config).__name__
            raise TypeError(f"{key!r} is in several sections of {kind} ({', '.join(where[key])})" if key in where
                            else f"{kind} has no setting {key!r}; its settings: {', '.join(sorted(own | set(where)))}")
    top.update({name: dataclasses.replace(sections[name], **c) for name, c in changes.items() if c})
    return dataclasses.replace(config, **top) if top else config
