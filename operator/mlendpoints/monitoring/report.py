"""The drift result as a self-contained HTML page: a summary table and one plot per feature.

Each plot shows the baseline and target distributions over the same bins the score used
(histograms for numeric features, bars per category), titled with the metric, score and threshold.
Plots are PNGs (matplotlib, Agg backend) embedded as data URIs, so the file can be mailed or
served as is.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import pandas as pd

from mlendpoints.monitoring import drift


def _plot(feature: drift.FeatureResult, base: pd.Series, target: pd.Series) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3))
    b, t = base.dropna(), target.dropna()
    if feature.type == "numeric":
        edges, _, _ = drift.numeric_frequencies(b.to_numpy(float), t.to_numpy(float))
        ax.hist(b, bins=edges.tolist(), alpha=0.5, density=True, label=f"baseline ({len(b)})")
        ax.hist(t, bins=edges.tolist(), alpha=0.5, density=True, label=f"target ({len(t)})")
    else:
        cats, nb, nt = drift.category_counts(b.astype(str), t.astype(str))
        x = range(len(cats))
        ax.bar([i - 0.2 for i in x], nb / max(nb.sum(), 1), width=0.4, label=f"baseline ({len(b)})")
        ax.bar([i + 0.2 for i in x], nt / max(nt.sum(), 1), width=0.4, label=f"target ({len(t)})")
        ax.set_xticks(list(x), cats, rotation=45, ha="right")
    verdict = "DRIFT" if feature.drifted else "no drift"
    ax.set_title(
        f"{feature.name}: {feature.metric} = {feature.score:.4g} (threshold {feature.threshold:g}) {verdict}"
    )
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def html_report(
    result: drift.Result, baseline: pd.DataFrame, target: pd.DataFrame, meta: dict[str, Any]
) -> str:
    """The HTML page for ``result`` (``meta``: baseline/target URIs and window, shown on top)."""
    esc = html.escape
    rows = []
    plots = []
    for f in result.features:
        score = "" if f.score is None else f"{f.score:.4g}"
        cls = "drift" if f.drifted else ""
        rows.append(
            f"<tr class='{cls}'><td>{esc(f.name)}</td><td>{f.type}</td><td>{f.metric}</td><td>{score}</td>"
            f"<td>{'' if f.threshold is None else f.threshold}</td><td>{'yes' if f.drifted else 'no'}</td>"
            f"<td>{f.status} {esc(f.message)}</td></tr>"
        )
        if f.status == "ok":
            png = _plot(f, baseline[f.name], target[f.name])
            plots.append(f"<h3>{esc(f.name)}</h3><img alt='{esc(f.name)}' src='data:image/png;base64,{png}'>")
    info = "".join(f"<li><b>{esc(k)}</b>: {esc(str(v))}</li>" for k, v in meta.items())
    drifted = ", ".join(result.drifted) or "none"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Data drift report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px}}tr.drift{{background:#fdd}}</style></head>
<body><h1>Data drift report</h1>
<ul>{info}<li><b>status</b>: {esc(result.status)} {esc(result.message)}</li>
<li><b>rows</b>: baseline {result.baseline_rows}, target {result.target_rows}</li>
<li><b>drifted features</b>: {esc(drifted)}</li>
<li><b>missing features</b>: {esc(", ".join(result.missing) or "none")}</li>
<li><b>extra target columns (ignored)</b>: {esc(", ".join(result.extra) or "none")}</li></ul>
<table><tr><th>feature</th><th>type</th><th>metric</th><th>score</th><th>threshold</th><th>drift</th><th>status</th></tr>
{"".join(rows)}</table>
{"".join(plots)}
</body></html>
"""
