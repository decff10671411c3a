"""The package data: data contracts (GX suites), report templates and the default config.

They live in the repository's own folders (`expectations/`, `reports/`, `config/`) and are
installed as `abmq.expectations`, `abmq.reports` and `abmq.configs` (see pyproject.toml), so
they are found the same way from a checkout, an editable install and a wheel.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

EXPECTATIONS: Traversable = files("abmq.expectations")
REPORTS: Traversable = files("abmq.reports")
DEFAULT_CONFIG: Traversable = files("abmq.configs") / "default.yaml"
PRESETS: Traversable = files("abmq.configs") / "presets"  # config/presets/<name>.yaml (abmq/presets.py)


def suite_text(name: str) -> str:
    """The JSON of the GX suite `expectations/<name>.json`."""
    return (EXPECTATIONS / f"{name}.json").read_text(encoding="utf-8")


def suite_names() -> list[str]:
    return sorted(p.name.removesuffix(".json") for p in EXPECTATIONS.iterdir() if p.name.endswith(".json"))


def template_text(name: str) -> str:
    """A Jinja template of `reports/`."""
    return (REPORTS / name).read_text(encoding="utf-8")
