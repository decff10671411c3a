"""The scoring config: the default reproduces the reference model; mistakes are named."""

import pytest
import yaml

from abmq.config import ConfigError, load_config
from abmq.resources import DEFAULT_CONFIG


def test_default_config_is_the_reference_model():
    config = load_config()
    lead = config.lead_scoring
    assert lead.fit_points.model_dump() == {"industry": 15, "employees": 10, "annual_revenue": 10, "country": 5, "decision_maker": 10}
    assert {t: (r.points, r.count) for t, r in lead.engagement.events.items()} == {
        "demo_request": (20, "once"),
        "pricing_page_visit": (15, "once"),
        "event_attendance": (10, "once"),
        "content_download": (5, "each"),
        "email_open": (3, "each"),
        "email_click": (3, "each"),
        "web_visit": (0, "each"),
    }
    assert (lead.engagement.cap, lead.engagement.lookback_days, lead.sql_threshold) == (50, 90, 70)
    assert config.icp.industries == ["Software", "Financial Services", "Healthcare"]
    assert (config.icp.employees.min, config.icp.employees.max) == (200, 5000)
    assert (config.icp.annual_revenue.min, config.icp.annual_revenue.max) == (20e6, 1e9)
    assert config.icp.countries == ["US", "CA", "GB", "IE", "DE", "FR", "NL", "AU"]
    assert config.account_scoring.threshold == 70


def write(tmp_path, mutate):
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    mutate(raw)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c["lead_scoring"]["fit_points"].update(industri=15), "lead_scoring.fit_points.industri: Extra inputs are not permitted"),
        (
            lambda c: c["lead_scoring"]["engagement"]["events"]["demo_request"].update(count="twice"),
            "lead_scoring.engagement.events.demo_request.count: Input should be 'once' or 'each'",
        ),
        (lambda c: c["icp"]["employees"].update(min=6000), "icp.employees: Value error, min (6000.0) is greater than max (5000.0)"),
        (lambda c: c["account_scoring"].update(engagement_cap=60), "must be 100"),
        (lambda c: c["lead_scoring"]["engagement"]["events"].pop("web_visit"), "no rule for event type(s) ['web_visit']"),
        (lambda c: c["lead_scoring"].update(sql_threshold="high"), "lead_scoring.sql_threshold: Input should be a valid integer"),
    ],
)
def test_config_mistakes_are_named(tmp_path, mutate, message):
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, mutate))
    assert message in str(error.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_fingerprint_changes_with_a_weight(tmp_path):
    changed = load_config(write(tmp_path, lambda c: c["lead_scoring"]["fit_points"].update(industry=20)))
    assert changed.fingerprint() != load_config().fingerprint()
