"""Model monitoring tools: reading collected payloads, data drift (``mlendpoints monitor``), profiling.

- ``payloads``: read the data collector's JSON Lines files (or CSV/Parquet/JSONL tables) into pandas;
- ``drift``: per-feature drift statistics (scipy) and their thresholds; ``report``: JSON + HTML;
- ``cli``: ``mlendpoints monitor drift``.

See ``docs/monitoring.md``.
"""
