"""Alerts for newly SQL-ready accounts: a Prefect event (for automations) and an optional
webhook (Slack-style JSON). Accounts, scores, owners and reasons only: no contact data."""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

import polars as pl

from abmq.tasks.sources import ID_KEY_PREFIX

WEBHOOK_ENV = "ABMQ_ALERT_WEBHOOK_URL"
WEBHOOK_SECRET_BLOCK = "abmq-alert-webhook-url"
EVENT_NAME = "abm-qualify.accounts.sql-ready"
ALERT_FIELDS = ("domain", "name", "score", "tier", "top_signal")


def owners_of_new(changes: dict[str, Any], accounts: pl.DataFrame) -> dict[str, str | None]:
    """The owners of the newly SQL-ready accounts, by account key (`accounts`' `domain`
    column): the alert reads only theirs (reading all 1M accounts' took 0.7 s at XL)."""
    keys = [a.get("account_key", a["domain"]) for a in changes.get("new_sql_ready") or []]
    named = accounts.filter(pl.col("domain").is_in(pl.Series(keys, dtype=pl.String).implode()))
    return dict(named.select("domain", "owner").iter_rows())


def alert_payload(changes: dict[str, Any], as_of: str, owners: dict[str, str | None]) -> dict[str, Any] | None:
    """The alert for this run, or None when nothing is newly SQL-ready (or there is no earlier
    run to compare with: a first run would call every account new)."""
    if not changes.get("previous_as_of") or not changes.get("new_sql_ready"):
        return None
    # `owners` is by account key; an account without a domain is named by its account id
    accounts = [
        {
            **{k: a.get(k) for k in ALERT_FIELDS},
            **({"account_id": a["account_key"].removeprefix(ID_KEY_PREFIX)} if a.get("domain") is None else {}),
            "owner": owners.get(a.get("account_key", a["domain"])),
        }
        for a in changes["new_sql_ready"]
    ]
    lines = [
        f"{a['name']} ({a['domain'] or 'account id ' + a['account_id']}) score {a['score']}, {a['tier'] or 'untiered'}, owner {a['owner'] or 'unassigned'}"
        for a in accounts[:20]
    ]
    more = f"\n… and {len(accounts) - 20} more" if len(accounts) > 20 else ""
    return {
        "as_of": as_of,
        "compared_with": changes["previous_as_of"],
        "count": len(accounts),
        "accounts": accounts,
        "text": f"{len(accounts)} account(s) newly SQL-ready as of {as_of}:\n" + "\n".join(lines) + more,
    }


def webhook_url() -> str | None:
    """From the environment, else from the Prefect Secret block 'abmq-alert-webhook-url'."""
    if os.environ.get(WEBHOOK_ENV):
        return os.environ[WEBHOOK_ENV]
    try:
        from prefect.blocks.system import Secret

        return str(Secret.load(WEBHOOK_SECRET_BLOCK).get())
    except Exception:  # no such block: webhooks are optional
        return None


def post_webhook(url: str, payload: dict[str, Any], timeout: float = 10.0) -> int:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (URL comes from the operator's config)
        return response.status
