"""``mlendpoints monitor drift``: compare a baseline table with a target table (or collected payloads).

Exit codes: 0 no drift, 1 drift on at least one feature, 2 bad arguments or unreadable input,
3 nothing to compare (empty window, no common features): the JSON says which. With
``--exit-zero`` (scheduled runs) every written result exits 0; only errors fail the Job.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mlendpoints.monitoring import drift, payloads, report


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlendpoints monitor", description="Model monitoring.")
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("drift", help="per-feature data drift between a baseline and a target")
    d.add_argument("--baseline", required=True, help="CSV/Parquet/JSONL file or collected-payload folder URI")
    d.add_argument(
        "--target",
        required=True,
        help="same forms; usually <destination>/<endpoint>/<deployment>/model_inputs",
    )
    d.add_argument(
        "--features", default="", help="comma-separated features (default: the baseline's columns)"
    )
    d.add_argument(
        "--target-columns",
        default="",
        help="comma-separated names for the target's columns in order (payloads sent as rows have columns 0,1,...)",
    )
    d.add_argument("--numeric-metric", default=drift.DEFAULT_NUMERIC, choices=drift.NUMERIC_METRICS)
    d.add_argument(
        "--categorical-metric", default=drift.DEFAULT_CATEGORICAL, choices=drift.CATEGORICAL_METRICS
    )
    d.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="override a default threshold",
    )
    window = d.add_mutually_exclusive_group()
    window.add_argument(
        "--window-hours", type=float, help="target records of the last N hours (payload folders)"
    )
    window.add_argument("--window-start", help="ISO 8601 start (UTC when no offset) of the target window")
    d.add_argument("--window-end", help="ISO 8601 end of the target window (with --window-start)")
    d.add_argument("--baseline-start", help="ISO 8601 start of the baseline window (payload folders)")
    d.add_argument("--baseline-end", help="ISO 8601 end of the baseline window (payload folders)")
    d.add_argument("--output", default="drift", help="writes OUTPUT.json and OUTPUT.html (default: drift)")
    d.add_argument(
        "--termination-message", help="also write a compact summary here (Kubernetes: /dev/termination-log)"
    )
    d.add_argument("--exit-zero", action="store_true", help="exit 0 when drift is found (scheduled runs)")
    return parser


def _time(value: str) -> datetime:
    at = datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _config(args: argparse.Namespace) -> drift.Config:
    thresholds: dict[str, float] = {}
    for item in args.threshold:
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--threshold {item!r}: use METRIC=VALUE")
        thresholds[name] = float(value)
    features = tuple(f.strip() for f in args.features.split(",") if f.strip())
    return drift.Config(features, args.numeric_metric, args.categorical_metric, thresholds)


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        config = _config(args)
        if args.window_hours is not None:
            window = payloads.Window.last(args.window_hours)
        elif args.window_start:
            window = payloads.Window(
                _time(args.window_start), _time(args.window_end) if args.window_end else None
            )
        else:
            window = payloads.Window()
        base_window = payloads.Window(
            _time(args.baseline_start) if args.baseline_start else None,
            _time(args.baseline_end) if args.baseline_end else None,
        )
        baseline = payloads.read_table(args.baseline, base_window)
        target = payloads.read_table(args.target, window)
        names = [c.strip() for c in args.target_columns.split(",") if c.strip()]
        if names and not target.empty:
            if len(names) != len(target.columns):
                raise ValueError(
                    f"--target-columns names {len(names)} columns; the target has {len(target.columns)}"
                )
            target.columns = names
    except (ValueError, payloads.PayloadError, OSError) as exc:
        print(f"mlendpoints monitor drift: {exc}", file=sys.stderr)
        return 2
    result = drift.compare(baseline, target, config)
    meta = {"baseline": args.baseline, "target": args.target, "window": window.describe()}
    out = {**meta, **result.to_dict(), "computed": datetime.now(UTC).isoformat()}
    Path(f"{args.output}.json").write_text(json.dumps(out, indent=2) + "\n")
    Path(f"{args.output}.html").write_text(report.html_report(result, baseline, target, meta))
    print(json.dumps({"status": result.status, "drifted": result.drifted, "missing": result.missing}))
    if args.termination_message:
        Path(args.termination_message).write_text(summary(result, window))
    if args.exit_zero:
        return 0
    if result.status != "ok":
        return 3
    return 1 if result.drifted else 0


#: Kubernetes keeps at most 4096 bytes of a termination message.
SUMMARY_LIMIT = 4000


def summary(result: drift.Result, window: payloads.Window) -> str:
    """Compact JSON for ``status.lastRun``: drifted features first, cut to :data:`SUMMARY_LIMIT` bytes."""
    features = sorted(result.features, key=lambda f: (not f.drifted, f.name))
    rows = [[f.name, f.metric, f.score, f.threshold, f.drifted] for f in features]
    out: dict[str, Any] = {"result": result.status, "message": result.message, "window": window.describe(),
                           "drifted": result.drifted, "features": rows}  # fmt: skip
    text = json.dumps(out, separators=(",", ":"))
    while len(text.encode()) > SUMMARY_LIMIT and out["features"]:
        out["features"] = out["features"][:-1]
        out["truncated"] = True
        text = json.dumps(out, separators=(",", ":"))
    return text
