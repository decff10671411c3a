"""Scoring configuration: one YAML file, validated with pydantic.

Every weight, window and capacity the pipeline uses lives here, so a RevOps team can
review and version the model like code. Unknown keys are errors: a typo in a weight
name must not silently fall back to a default.
"""

from __future__ import annotations

import hashlib
import json
import re
import zoneinfo
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_serializer, model_validator

from abmq import presets as preset_sources
from abmq.resources import DEFAULT_CONFIG
from abmq.vocabulary import DEPARTMENTS, EVENT_TYPES, SENIORITIES


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # Keys added after configs were fingerprinted: left out of `model_dump()` (and so of the
    # fingerprint) while None or empty, so a config that does not set them keeps its fingerprint.
    _omit_when_empty: ClassVar[tuple[str, ...]] = ()

    @model_serializer(mode="wrap")
    def _without_empty_keys(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        for name in self._omit_when_empty:
            if getattr(self, name) in (None, [], {}):
                data.pop(name, None)
        return data


class Range(Strict):
    min: float = Field(ge=0)
    max: float = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> "Range":
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class ICP(Strict):
    industries: list[str] = Field(min_length=1)
    employees: Range
    annual_revenue: Range
    countries: list[str] = Field(min_length=1)
    decision_maker_seniorities: list[Literal[SENIORITIES]] = Field(min_length=1)  # type: ignore[valid-type]


class FitPoints(Strict):
    industry: int = Field(ge=0)
    employees: int = Field(ge=0)
    annual_revenue: int = Field(ge=0)
    country: int = Field(ge=0)


class LeadFitPoints(FitPoints):
    decision_maker: int = Field(ge=0)


class EventRule(Strict):
    points: int = Field(ge=0)
    # "once": counts at most once per contact in the window; "each": every event counts.
    count: Literal["once", "each"]
    # The category's own decay half-life in the account people score (0: no decay); when
    # absent, `account_scoring.people.decay_half_life_days`. Product usage ages faster or
    # slower than marketing touches, so a team can say so per category.
    half_life_days: float | None = Field(default=None, ge=0)
    _omit_when_empty = ("half_life_days",)


# A team's own engagement category: snake_case, as it becomes the `n_<name>` count column.
CATEGORY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Names whose `n_<name>` column the pipeline already has for something else (the calibration
# table's technology and intent-cluster counts).
RESERVED_CATEGORY_NAMES = frozenset({"technologies", "clusters"})


class EngagementRules(Strict):
    lookback_days: int = Field(ge=1, le=3650)
    cap: int = Field(ge=0)
    # The seven built-in event types (abmq.vocabulary.EVENT_TYPES), each required, plus any
    # categories of the team's own (product usage: trial_started, feature_used, ...).
    events: dict[str, EventRule]

    @field_validator("events")
    @classmethod
    def _category_names(cls, events: dict[str, EventRule]) -> dict[str, EventRule]:
        for name in events:
            if name in EVENT_TYPES:
                continue
            if not CATEGORY_NAME.match(name):
                raise ValueError(
                    f"{name!r} is not a category name: use lower-case snake_case, a letter first, "
                    "at most 40 characters (e.g. trial_started)"
                )
            if name in RESERVED_CATEGORY_NAMES:
                raise ValueError(f"{name!r} is reserved (its n_{name} column already means something else): choose another name")
        return events

    @model_validator(mode="after")
    def _all_event_types(self) -> "EngagementRules":
        missing = sorted(set(EVENT_TYPES) - set(self.events))
        if missing:
            raise ValueError(f"events: no rule for event type(s) {missing}")
        return self

    @property
    def event_types(self) -> tuple[str, ...]:
        """The event types a run knows, in one deterministic order: the built-ins in
        EVENT_TYPES order, then the team's own categories in config order. The events
        contract's value set, the `n_<type>` columns and the explanations follow it."""
        return (*EVENT_TYPES, *(name for name in self.events if name not in EVENT_TYPES))

    @property
    def custom_types(self) -> tuple[str, ...]:
        return self.event_types[len(EVENT_TYPES) :]


class LeadScoring(Strict):
    fit_points: LeadFitPoints
    engagement: EngagementRules
    sql_threshold: int = Field(ge=0, le=100)


class TechnologyFit(Strict):
    match: list[str]
    points_each: int = Field(ge=0)
    cap: int = Field(ge=0)
    # Competitors' tools: positive points where a replacement is an opportunity, negative
    # where a customer is locked in. Not capped.
    competitors: dict[str, int] = Field(default_factory=dict)


class AccountFit(Strict):
    points: FitPoints
    technologies: TechnologyFit
    cap: int = Field(ge=0, le=100)


class People(Strict):
    # A contact is an engaged stakeholder once their (reference) lead engagement reaches this.
    engaged_min_points: int = Field(ge=1)
    # Activity loses half its weight every this many days (0: no decay).
    decay_half_life_days: float = Field(ge=0)
    # Multiplies a person's decayed points before the per-person cap.
    persona_weights: dict[Literal[SENIORITIES], float]  # type: ignore[valid-type]
    per_contact_cap: int = Field(ge=0)
    cap: int = Field(ge=0)


class Role(Strict):
    """A buying-group role: engaged contacts with one of these seniorities (any if empty)
    and one of these departments (any if empty) cover it."""

    seniorities: list[Literal[SENIORITIES]] = Field(default_factory=list)  # type: ignore[valid-type]
    departments: list[Literal[DEPARTMENTS]] = Field(default_factory=list)  # type: ignore[valid-type]
    points: int = Field(ge=0)


class BuyingGroup(Strict):
    roles: dict[str, Role] = Field(min_length=1)
    cap: int = Field(ge=0)


class IntentCluster(Strict):
    topics: list[str] = Field(min_length=1)
    # In market for the cluster when at least this share of its topics surge.
    in_market_share: float = Field(gt=0, le=1)


class Intent(Strict):
    surge_score: int = Field(ge=0, le=100)
    recent_weeks: int = Field(ge=1, le=52)
    clusters: dict[str, IntentCluster] = Field(min_length=1)
    points_each: int = Field(ge=0)  # per cluster in market
    cap: int = Field(ge=0)
    # A topic surging in the latest week that did not surge in the recent weeks before.
    new_surge_points: int = Field(ge=0)

    @property
    def topics(self) -> list[str]:
        return sorted({topic for cluster in self.clusters.values() for topic in cluster.topics})


class Trend(Strict):
    window_days: int = Field(ge=1, le=365)
    rising_ratio: float = Field(gt=1)
    cooling_ratio: float = Field(gt=0, lt=1)


class FastPath(Strict):
    """A demo request from a decision-maker at a good-fit account goes straight to sales."""

    enabled: bool
    seniorities: list[Literal[SENIORITIES]] = Field(min_length=1)  # type: ignore[valid-type]
    min_fit: int = Field(ge=0, le=100)


class AccountScoring(Strict):
    threshold: int = Field(ge=0, le=100)
    fit: AccountFit
    engagement_cap: int = Field(ge=0, le=100)
    people: People
    buying_group: BuyingGroup
    intent: Intent
    trend: Trend
    fast_path: FastPath

    @model_validator(mode="after")
    def _scale(self) -> "AccountScoring":
        if self.fit.cap + self.engagement_cap != 100:
            raise ValueError(
                f"fit.cap ({self.fit.cap}) + engagement_cap ({self.engagement_cap}) must be 100: "
                "account scores share the 0-100 scale of lead scores"
            )
        return self


class Tier(Strict):
    name: str
    label: str
    capacity: int = Field(ge=0)
    min_score: int = Field(ge=0, le=100)


class Suppression(Strict):
    customers: bool
    open_opportunities: bool
    competitors: bool


class Selection(Strict):
    nurture_min_fit: int = Field(ge=0, le=100)
    # An account keeps its previous tier while its score stays within this margin below the
    # tier's minimum, so accounts at a boundary do not flap between tiers run after run.
    tier_hysteresis: int = Field(ge=0, le=100)
    target_decisions: list[Literal["sql_ready", "nurture"]] = Field(min_length=1)
    suppress: Suppression
    tiers: list[Tier] = Field(min_length=1)


class DataQuality(Strict):
    # A warning rule that fails on more than this share of a source's rows blocks the run:
    # that is a renamed column or a wrong type, not a few bad rows.
    max_quarantine_share: float = Field(ge=0, le=1)
    # Blocking when fewer contacts than this share match an account.
    contact_account_match_floor: float = Field(ge=0, le=1)
    # Blocking when the newest row is older than this many days before the as-of date.
    freshness_days: dict[Literal["events", "intent"], int] = Field(default_factory=dict)
    # Blocking when a source has lost more than this share of its rows since the last good run.
    max_volume_drop: float = Field(ge=0, le=1)
    # Per source: {"expectation(column)": "blocking" | "warning"} over the suites' own severities.
    severity_overrides: dict[str, dict[str, Literal["blocking", "warning"]]] = Field(default_factory=dict)


class Limits(Strict):
    """Sizes beyond reason in an input, checked when a source is staged (tasks/input_limits.py).

    A CSV line or field over its limit stops the run with a message naming the file, line and
    column; a value over `max_field_bytes` that gets past the byte check (a Parquet cell, a
    quoted field full of commas) is cut to the limit and its row quarantined. Not part of the
    scoring model: left out of `model_dump()` and of the fingerprint, so adding or changing
    limits changes no output of a run that stays within them."""

    # One value (a cell): a company name, a title, an event detail.
    max_field_bytes: int = Field(default=65_536, ge=64)
    # One CSV line (a row, unless a quoted value spans lines).
    max_row_bytes: int = Field(default=1_048_576, ge=256)
    # Columns in a CSV header.
    max_columns: int = Field(default=500, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> "Limits":
        if self.max_field_bytes > self.max_row_bytes:
            raise ValueError(f"max_field_bytes ({self.max_field_bytes}) is greater than max_row_bytes ({self.max_row_bytes})")
        return self


TIMESTAMP_KEYWORDS = ("iso", "epoch_ms", "epoch_s")


class TimestampFormat(Strict):
    """How a date or timestamp column of an export is written (tasks/mapping.py reads it).

    `format`: "iso" (ISO 8601, with or without an offset), "epoch_ms" / "epoch_s" (Unix time),
    or a strftime pattern such as "%m/%d/%Y %I:%M %p". `timezone`: the IANA zone of values
    without an offset (a bare date is midnight there); epoch values are UTC."""

    format: str = "iso"
    timezone: str = "UTC"

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in TIMESTAMP_KEYWORDS and "%" not in value:
            raise ValueError(f"{value!r} is not a format: use {', '.join(TIMESTAMP_KEYWORDS)} or a strftime pattern like '%m/%d/%Y %H:%M'")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. UTC, America/New_York, Europe/Berlin)") from None
        return value


class SourceMapping(Strict):
    """How one source's export maps onto the input contract (README, "Mappings"). Applied at
    staging, before the casts: headers renamed, then values mapped, then formats parsed.
    Which contract columns exist is checked against tasks/sources.py by
    `tasks.mapping.check_mappings` (this module cannot import the contract)."""

    # Their header -> contract column (headers compared as `normalise_header` spells them).
    columns: dict[str, str] = Field(default_factory=dict)
    # Contract column -> {their value: contract value}; values not listed stay as they are.
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    # Contract column -> "band" (employees, annual_revenue), "iso_country" (country), or a
    # TimestampFormat (date and timestamp columns).
    formats: dict[str, Literal["band", "iso_country"] | TimestampFormat] = Field(default_factory=dict)
    # Glob patterns (relative to the input folder) of the export's file names, e.g.
    # "hubspot-crm-exports-*companies*.csv"; tried before `<source>.csv|.parquet|<source>/`
    # (tasks/catalog.py). Left out of `model_dump()` when empty, so mappings without it keep
    # their fingerprint.
    files: list[str] = Field(default_factory=list)
    _omit_when_empty = ("files",)

    @field_validator("values")
    @classmethod
    def _value_keys_trimmed(cls, values: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        """Their values are compared trimmed (`tasks.mapping.map_values`), so the keys are too:
        a YAML key such as " Email Open" would otherwise never match. Two keys that trim to one
        value must not say different things."""
        trimmed: dict[str, dict[str, str]] = {}
        for column, table in values.items():
            trimmed[column], written = {}, {}
            for theirs, ours in table.items():
                key = theirs.strip()
                if key in trimmed[column] and trimmed[column][key] != ours:
                    raise ValueError(
                        f"{column}: {written[key]!r} and {theirs!r} are one value (values are compared without "
                        f"surrounding spaces) but map onto {trimmed[column][key]!r} and {ours!r}"
                    )
                trimmed[column][key], written[key] = ours, theirs
        return trimmed


class Config(Strict):
    version: Literal[1]
    icp: ICP
    lead_scoring: LeadScoring
    account_scoring: AccountScoring
    selection: Selection
    data_quality: DataQuality
    # Input size limits (optional in the YAML; defaults as in config/default.yaml).
    limits: Limits = Field(default_factory=Limits, exclude=True)
    # Per source: how a CRM export maps onto the input contract. Part of the fingerprint when
    # set (it changes what the inputs mean); left out of it and of `model_dump()` when empty,
    # so a config without mappings keeps its fingerprint.
    sources: dict[str, SourceMapping] = Field(default_factory=dict)
    _omit_when_empty = ("sources",)

    @model_validator(mode="after")
    def _mapped_event_types_known(self) -> "Config":
        """An events mapping that renames activity onto a type the config does not know would
        quarantine every such row: say so when the config is read, not after a run."""
        mapping = self.sources.get("events")
        targets = mapping.values.get("event_type", {}) if mapping else {}
        known = set(self.lead_scoring.engagement.event_types)
        # staging trims and lower-cases event types after the mapping (tasks/staging.py)
        unknown = sorted({f"{theirs!r} -> {ours!r}" for theirs, ours in targets.items() if ours.strip().lower() not in known})
        if unknown:
            raise ValueError(
                f"sources.events.values.event_type maps onto unknown event types ({', '.join(unknown)}): "
                f"map onto one of {', '.join(sorted(known))}, or add a category under lead_scoring.engagement.events"
            )
        return self

    def event_half_life(self, event_type: str) -> float:
        """Days after which an event of this type counts half in the people score (0: no decay)."""
        own = self.lead_scoring.engagement.events[event_type].half_life_days
        return self.account_scoring.people.decay_half_life_days if own is None else own

    def fingerprint(self) -> str:
        """Short content hash, written into outputs so a report names the model that made it."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:12]


class ConfigError(ValueError):
    """A config file that cannot be used; the message says which key and why."""


def _read_yaml(path: Path, what: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{what} file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return raw


def load_config(path: Path | str | None = None, mapping: Path | str | None = None, presets: list[str] | None = None) -> Config:
    """The scoring config; `mapping` is a YAML file holding only a `sources:` section, which
    replaces the config's (`abmq run --mapping`). `presets` ("hubspot", "intent=bombora"; `abmq
    run --preset`) replace the config's `preset:` key; the chosen presets' `sources:` entries
    are laid under the config's (or the mapping file's) own, which win key by key
    (abmq/presets.py), so the merged section is what the model and its fingerprint see."""
    path = Path(path) if path else DEFAULT_CONFIG  # a file in the installed package
    raw = _read_yaml(path, "config")
    where = str(path)
    if mapping is not None:
        extra = _read_yaml(Path(mapping), "mapping")
        if set(extra) != {"sources"}:
            raise ConfigError(f"{mapping}: a mapping file holds only a `sources:` section, found {', '.join(sorted(map(str, extra)))}")
        raw["sources"] = extra["sources"] or {}
        where = f"{path} with mapping {mapping}"
    chosen = raw.pop("preset", None)
    if presets:
        chosen = list(presets)
    if chosen:
        try:
            raw["sources"] = preset_sources.resolve(preset_sources.selection(chosen), raw.get("sources"))
        except preset_sources.PresetError as exc:
            raise ConfigError(f"{where}: preset: {exc}") from None
        where = f"{where} with preset {', '.join(preset_sources.selection(chosen))}"
    try:
        return Config.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{where}: {problems}") from None
