"""Read tables for drift: collected payload folders (the runtime's layout) and plain table files.

A *collection folder* is ``<destination>/<endpoint>/<deployment>/<collection>`` as written by the
runtime's collector (``YYYY/MM/DD/HH/*.jsonl`` below it; see ``docs/monitoring.md``). Its
tabular records (``"columns"``) are concatenated into one DataFrame; records without columns are
counted but contribute no rows. A URI ending in ``.csv``, ``.parquet`` or ``.jsonl``/``.json`` is
read as one table with pandas. Any fsspec URI works (``file://``, plain paths, ``az://``,
``abfss://``, ``s3://``...), with credentials from the environment as usual for fsspec.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from mlendpoints.api import collector as dc

_PROTOCOLS = {"abfss": "abfs", "wasbs": "abfs"}


class PayloadError(ValueError):
    """A URI that cannot be read as a table (missing, unsupported format); the message says which."""


@dataclass(frozen=True)
class Window:
    """A half-open UTC time range ``[start, end)``; None = unbounded."""

    start: datetime | None = None
    end: datetime | None = None

    @classmethod
    def last(cls, hours: float, now: datetime | None = None) -> Window:
        end = now or datetime.now(UTC)
        return cls(end - timedelta(hours=hours), end)

    def describe(self) -> dict[str, str | None]:
        return {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }


def _fs(uri: str) -> tuple[Any, str]:
    import fsspec

    scheme, sep, rest = uri.partition("://")
    if sep and scheme in _PROTOCOLS:
        uri = f"{_PROTOCOLS[scheme]}://{rest}"
    try:
        fs, path = fsspec.core.url_to_fs(uri)
    except ImportError as exc:
        raise PayloadError(f"{uri}: the fsspec plugin for {scheme}:// is not installed ({exc})") from exc
    return fs, str(path).rstrip("/")


def read_table(uri: str, window: Window | None = None) -> pd.DataFrame:
    """The table at ``uri``: a CSV/Parquet/JSON Lines file, or a collection folder (within ``window``).

    Raises:
        PayloadError: nothing at ``uri``, or a file format that is not a table.
    """
    fs, path = _fs(uri)
    lower = path.lower()
    if lower.endswith((".csv", ".parquet", ".jsonl", ".json")):
        if not fs.exists(path):
            raise PayloadError(f"{uri}: no such file")
        with fs.open(path, "rb") as handle:
            if lower.endswith(".csv"):
                return pd.read_csv(handle)
            if lower.endswith(".parquet"):
                return pd.read_parquet(handle)
            return pd.read_json(handle, lines=lower.endswith(".jsonl"))
    if not fs.isdir(path):
        raise PayloadError(f"{uri}: not a .csv/.parquet/.jsonl file nor a folder of collected payloads")
    return table_of_records(read_records(fs, path, window or Window()))


def _in_window(partition: str, window: Window) -> bool:
    """Whether the hour folder ``YYYY/MM/DD/HH`` overlaps ``window``."""
    try:
        hour = datetime.strptime(partition, dc.PARTITION_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return False
    if window.end is not None and hour >= window.end:
        return False
    return not (window.start is not None and hour + timedelta(hours=1) <= window.start)


def read_records(fs: Any, root: str, window: Window) -> list[dict[str, Any]]:
    """Every record under ``root`` whose hour folder and ``time`` fall within ``window``."""
    records: list[dict[str, Any]] = []
    for file in sorted(fs.glob(f"{root}/*/*/*/*/*{dc.FILE_SUFFIX}")):
        partition = "/".join(file[len(root) + 1 :].split("/")[:4])
        if not _in_window(partition, window):
            continue
        with fs.open(file, "rb") as handle:
            for line in handle:
                if line.strip():
                    record = json.loads(line)
                    if _record_in(record, window):
                        records.append(record)
    return records


def _record_in(record: dict[str, Any], window: Window) -> bool:
    at = datetime.fromisoformat(str(record.get("time", "")).replace("Z", "+00:00"))
    return (window.start is None or at >= window.start) and (window.end is None or at < window.end)


def table_of_records(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Concatenate the ``columns`` of tabular records (others are skipped) into one DataFrame."""
    frames = [pd.DataFrame(r["columns"]) for r in records if isinstance(r.get("columns"), dict)]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True)
