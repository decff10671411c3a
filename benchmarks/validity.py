"""Validity benchmark: does the calibrated config rank accounts the way the evidence says?

For each seed, generate sample data with its ground truth (`generate(..., truth=True)`,
never read by scoring), run the calibration in-process (the steps of the `calibrate-scoring`
flow, without Prefect), and print on the held-out backtest dates (horizon purged):

* AUC of the default config's score and of the calibrated (proposed) config's score,
  rescored by the pipeline, against the realised label, with bootstrap 95% intervals and
  the paired interval of the difference;
* AUC of p_convert (the calibrated probability of calibrate's p_convert_model.json);
* AUC of the generator's true label probability (from the latent propensity alone);
* AUC of a gradient-boosting model (scikit-learn HistGradientBoostingClassifier, learning
  rate chosen by cross-validation on the training dates) on the same observable inputs.

    .venv/bin/python benchmarks/validity.py --accounts 20000 --seeds 7 11 13
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from abmq import sample_data
from abmq.config import Config, load_config
from abmq.tasks import backtest, calibration, calibration_model, calibration_proposal, calibration_report, calibration_table

AS_OF = dt.date(2026, 11, 1)
GBM_LEARNING_RATES = (0.05, 0.1)


def calibrate_in_process(input_dir: Path, as_of: dt.date, config: Config, label: str, horizon_days: int, months: int, frequency: str):
    """The flow's steps, plain: (staged, labelled table, calibration, proposed held-out table)."""
    staged = backtest.stage_inputs(input_dir)
    first_event = backtest.first_event_day(staged)
    earliest = first_event + dt.timedelta(days=config.lead_scoring.engagement.lookback_days - 1) if first_event else None
    dates = calibration_table.backtest_dates(as_of, horizon_days, months, frequency, earliest)
    table = backtest.backtest_table(staged, dates, config)
    rows = calibration_table.label_rows(table, backtest.opportunity_history(staged, as_of, config), horizon_days, label)
    cal = calibration.fit(rows, config, horizon_days, label)
    proposed = backtest.backtest_table(staged, cal.split["test"], cal.proposed, with_features=False) if cal.mode != "none" else None
    return staged, rows, cal, proposed


def observable_features(rows: pl.DataFrame) -> list[str]:
    """Every numeric observable column of the backtest table (no label, no weight)."""
    skip = {"label", "weight", "as_of", "domain", "decision", "tier"}
    return [c for c, t in rows.schema.items() if c not in skip and t.is_numeric()]


def gbm_scores(cal: calibration.Calibration, test: pl.DataFrame) -> tuple[np.ndarray, float]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    features = observable_features(cal.train)
    x, y = cal.train.select(features).fill_null(0).to_numpy().astype(float), cal.train["label"].to_numpy()
    pairs, _how = calibration_model.folds(cal.train, cal.horizon_days)
    best, best_auc = GBM_LEARNING_RATES[0], -1.0
    for rate in GBM_LEARNING_RATES:
        aucs = []
        for fit_idx, check_idx in pairs:
            if len(set(y[check_idx].tolist())) < 2:
                continue
            model = HistGradientBoostingClassifier(learning_rate=rate, max_iter=200, random_state=0).fit(x[fit_idx], y[fit_idx])
            aucs.append(roc_auc_score(y[check_idx], model.predict_proba(x[check_idx])[:, 1]))
        if aucs and np.mean(aucs) > best_auc:
            best, best_auc = rate, float(np.mean(aucs))
    model = HistGradientBoostingClassifier(learning_rate=best, max_iter=200, random_state=0).fit(x, y)
    return model.predict_proba(test.select(features).fill_null(0).to_numpy().astype(float))[:, 1], best_auc


def run_seed(seed: int, accounts: int, label: str, horizon_days: int, months: int, frequency: str, work: Path) -> dict:
    folder = work / f"seed{seed}"
    started = time.perf_counter()
    sample_data.generate(folder, accounts, seed=seed, as_of=AS_OF, progress=False, truth=True)
    generated = time.perf_counter() - started
    config = load_config()
    staged, rows, cal, proposed = calibrate_in_process(folder, AS_OF, config, label, horizon_days, months, frequency)
    calibrated = time.perf_counter() - started - generated
    truth = pl.read_parquet(folder / sample_data.TRUTH_FILE)
    test = cal.test
    if proposed is not None:
        test = test.join(proposed.select("as_of", "domain", pl.col("score").alias("proposed_score")), on=["as_of", "domain"], how="inner")
    test = test.join(
        sample_data.true_label_probability(truth, AS_OF, cal.split["test"], horizon_days, label), on=["as_of", "domain"], how="left"
    ).with_columns(pl.col("true_probability").fill_null(0.0))
    scores = {"default": test["score"].to_numpy().astype(float)}
    if proposed is not None:
        scores["calibrated"] = test["proposed_score"].to_numpy().astype(float)
    if cal.p_model_train:
        scores["p_convert"] = calibration_model.p_convert(test, cal.p_model_train).to_numpy()
    scores["gbm"], gbm_cv = gbm_scores(cal, test)
    scores["true_propensity"] = test["true_probability"].to_numpy()
    ranked = calibration_report.ranking(test["label"].to_numpy(), scores, groups=test["domain"].to_numpy())
    return {
        "seed": seed,
        "accounts": accounts,
        "label": label,
        "horizon_days": horizon_days,
        "dates": {k: [d.isoformat() for d in v] for k, v in cal.split.items()},
        "rows": {
            "all": rows.height,
            "positives": int(rows["label"].sum()),
            "train_positives": cal.positives_train,
            "test": test.height,
            "test_positives": int(test["label"].sum()),
        },
        "mode": cal.mode,
        "settings": {
            "half_life": cal.models.settings.half_life,
            "contact_cap": cal.models.settings.contact_cap,
            "c": cal.models.settings.c,
            "cv": cal.models.settings.cv,
        }
        if cal.models
        else None,
        "gbm_cv_auc": round(gbm_cv, 4),
        "config_diff": calibration_proposal.config_diff(config, cal.proposed),
        "ranking": ranked,
        "seconds": {"generate": round(generated, 1), "calibrate": round(calibrated, 1)},
    }


def _fmt(block: dict, key: str = "auc") -> str:
    low, high = block.get(f"{key}_interval", [None, None])
    value = block.get(key)
    if value is None:
        return "n/a"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]" if low is not None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 13])
    parser.add_argument("--label", default="created", choices=calibration_table.LABELS)
    parser.add_argument("--horizon-days", type=int, default=90)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--frequency", default="monthly", choices=calibration_table.FREQUENCIES)
    parser.add_argument("--work", type=Path, default=None, help="folder for the generated data (default: a temporary one)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        for seed in args.seeds:
            result = run_seed(seed, args.accounts, args.label, args.horizon_days, args.months, args.frequency, work)
            results.append(result)
            r = result["ranking"]
            print(
                f"seed {seed}: {result['rows']['test']:,} held-out rows ({result['rows']['test_positives']} positive) on "
                f"{', '.join(result['dates']['test'])}; fit {result['mode']} {result['settings']}; {result['seconds']}"
            )
            for name, block in r.items():
                diff = (
                    f"  vs default {block['auc_minus_default']:+.3f} {block['difference_interval']}" if "auc_minus_default" in block else ""
                )
                print(f"  {name:16s} AUC {_fmt(block)}  PR-AUC {_fmt(block, 'pr_auc')}{diff}")
            sys.stdout.flush()
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    names = list(results[0]["ranking"]) if results else []
    print(
        "mean AUC over seeds: "
        + ", ".join(
            f"{n} {np.mean([r['ranking'][n]['auc'] for r in results if r['ranking'].get(n, {}).get('auc') is not None]):.3f}" for n in names
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
