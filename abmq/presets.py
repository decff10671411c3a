"""Presets: ready-made `sources:` entries for the exports people actually have (README,
"Presets"), shipped in the package as `config/presets/<name>.yaml`.

A preset holds a `sources:` section in the mapping format (`abmq.config.SourceMapping`) for
the sources it covers. `resolve` picks the entries the selection asks for and lays the user's
own `sources:` over them; `abmq.config.load_config` calls it before validating, so the merged
section is what the fingerprint and the run see. Works on the raw YAML dicts: this module sits
below the config model and raises `PresetError`, which `load_config` turns into a ConfigError.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

import yaml

from abmq.resources import PRESETS
from abmq.vocabulary import normalise_header


class PresetError(ValueError):
    """A preset selection that cannot be used; the message names the preset and the fix."""


@functools.cache
def available() -> dict[str, dict[str, Any]]:
    """Every shipped preset by name: {"description": ..., "sources": {...}}."""
    found = {}
    for entry in sorted(PRESETS.iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".yaml"):
            found[entry.name.removesuffix(".yaml")] = yaml.safe_load(entry.read_text(encoding="utf-8"))
    return found


def describe() -> str:
    """'hubspot (accounts, contacts), bombora (intent), …' for messages."""
    return ", ".join(f"{name} ({', '.join(preset['sources'])})" for name, preset in available().items())


def _preset(name: str) -> dict[str, Any]:
    presets = available()
    if name not in presets:
        raise PresetError(f"no preset called {name!r}; presets: {describe()}")
    return presets[name]["sources"]


def selection(spec: Any) -> list[str]:
    """The config's `preset:` as a list of selections: "hubspot" (every source it covers)
    or "intent=bombora" (one source). Accepts a name, a list of them, or {source: name}."""
    if spec is None:
        return []
    if isinstance(spec, str):
        return [spec]
    if isinstance(spec, dict):
        return [f"{source}={name}" for source, name in spec.items()]
    if isinstance(spec, list) and all(isinstance(item, str) for item in spec):
        return list(spec)
    raise PresetError(f"preset: give a preset name, a list of names, or {{source: name}}, not {spec!r}")


def chosen(selections: list[str]) -> dict[str, str]:
    """Source -> preset. A per-source choice ("intent=bombora") wins over whole presets; two
    whole presets covering one source without such a choice are an error naming both."""
    by_source: dict[str, str] = {}
    whole: dict[str, list[str]] = {}
    for item in selections:
        source, _, name = item.rpartition("=")
        name, source = name.strip(), source.strip()
        covered = _preset(name)
        if source:
            if source not in covered:
                raise PresetError(f"preset {name!r} has no entry for {source!r}; it covers {', '.join(covered)}")
            if by_source.get(source, name) != name:
                raise PresetError(f"{source}: chosen from two presets, {by_source[source]!r} and {name!r}; keep one")
            by_source[source] = name
        else:
            for covered_source in covered:
                whole.setdefault(covered_source, [])
                if name not in whole[covered_source]:
                    whole[covered_source].append(name)
    for source, names in whole.items():
        if source in by_source:
            continue
        if len(names) > 1:
            raise PresetError(
                f"{source}: presets {' and '.join(repr(n) for n in names)} both cover it; choose one per source, "
                f"e.g. --preset {source}={names[-1]} (in a config: preset: {{{source}: {names[-1]}}})"
            )
        by_source[source] = names[0]
    return by_source


def resolve(selections: list[str], own: dict[str, Any] | None) -> dict[str, Any]:
    """The `sources:` section: the chosen presets' entries with the user's own entries laid
    over them, source by source (`merge`)."""
    merged: dict[str, Any] = {source: copy.deepcopy(_preset(name)[source]) for source, name in chosen(selections).items()}
    for source, entry in (own or {}).items():
        merged[source] = merge(merged[source], entry or {}) if source in merged else entry
    return merged


def merge(preset: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
    """A preset's entry for one source with the user's laid over it, key by key, the user's
    winning: a header the user maps (spelled any way `normalise_header` equates) or a column
    the user maps onto replaces the preset's; value tables merge value by value; a format or
    the `files:` patterns the user gives replace the preset's."""
    if not isinstance(own, dict) or not isinstance(preset, dict):
        return own
    result = {**preset, **{k: v for k, v in own.items() if k not in ("columns", "values", "formats")}}
    own_columns = own.get("columns") or {}
    if own_columns:
        headers = {normalise_header(str(h)) for h in own_columns}
        targets = set(own_columns.values())
        kept = {h: c for h, c in (preset.get("columns") or {}).items() if normalise_header(str(h)) not in headers and c not in targets}
        result["columns"] = {**kept, **own_columns}
    own_values = own.get("values") or {}
    if own_values:
        values = dict(preset.get("values") or {})
        for column, table in own_values.items():
            values[column] = {**(values.get(column) or {}), **(table or {})}
        result["values"] = values
    if own.get("formats"):
        result["formats"] = {**(preset.get("formats") or {}), **own["formats"]}
    return result
