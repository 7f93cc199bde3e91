"""What a job has done, kept in its output location so any pod can resume or finish it.

Layout below the output folder (``<fp>`` is the plan's fingerprint, so another job writing to the
same folder never reuses these records)::

    .mlendpoints/<fp>/done/<id>.json      one per finished mini-batch (written last, atomically; by
                                          the worker when it succeeded, by the runner when it failed)
    .mlendpoints/<fp>/rows/<id>.txt       its appendRow lines (written by the worker before the record)
    .mlendpoints/<fp>/failed/<id>.json    a failed mini-batch's files, errors and tracebacks
    .mlendpoints/<fp>/progress/<k>.json   index k's counters, rewritten as it goes
    .mlendpoints/<fp>/indexes/<k>.json    index k's final counters: its share is finished
    logs/user/error/minibatch-<id>.txt    the same failure detail, for people
    logs/user/job_progress_overview.txt   mini-batches done/total over all indexes, updated while running
    logs/user/job_error.txt               failures summarized (written when there are any)
    logs/user/job_result.txt              the job's result
    <outputFileName>                      appendRow: every returned row in input order
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any

from mlendpoints.batch.files import Location

LOGS = "logs/user"


@dataclass
class Counters:
    total_mini_batches: int = 0
    completed_mini_batches: int = 0
    failed_mini_batches: int = 0
    succeeded_items: int = 0
    failed_items: int = 0

    def add(self, other: Counters) -> None:
        for f in fields(self):
            if f.name != "total_mini_batches":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    @classmethod
    def of(cls, data: dict[str, Any]) -> Counters:
        return cls(**{f.name: int(data.get(f.name, 0)) for f in fields(cls)})


def _id(mb_id: int) -> str:
    return f"{mb_id:08d}"


def success_record(mb_id: int, items: int, succeeded: int, files: list[str]) -> dict[str, Any]:
    """The done record of a mini-batch whose ``run`` succeeded (``files`` kept when fewer items
    than files succeeded)."""
    record: dict[str, Any] = {
        "id": mb_id,
        "ok": True,
        "items": items,
        "succeeded": succeeded,
        "failed": items - succeeded,
    }
    if succeeded < items:
        record["files"] = files
    return record


class State:
    def __init__(self, output: Location, fingerprint: str) -> None:
        self.out = output
        self.base = f".mlendpoints/{fingerprint}"

    def _json(self, rel: str) -> dict[str, Any] | None:
        raw = self.out.read(rel)
        return json.loads(raw) if raw else None

    # -- mini-batches ----------------------------------------------------------------------------

    def finished(self) -> dict[int, dict[str, Any]]:
        """Records of the finished mini-batches, by id (resume)."""
        out = {}
        for name in self.out.names(f"{self.base}/done"):
            if name.endswith(".json"):
                record = self._json(f"{self.base}/done/{name}")
                if record is not None:
                    out[int(name[:-5])] = record
        return out

    def rows_rel(self, mb_id: int) -> str:
        """Where a mini-batch's appendRow text goes, below the output (its worker writes it)."""
        return f"{self.base}/rows/{_id(mb_id)}.txt"

    def done_rel(self, mb_id: int) -> str:
        """Where a finished mini-batch's done record goes, below the output."""
        return f"{self.base}/done/{_id(mb_id)}.json"

    def record(self, mb_id: int, record: dict[str, Any], failure: str | None) -> None:
        """Store one failed mini-batch: failure detail first, the done record last. (A succeeded
        one's rows and record are written by its worker.)"""
        if failure is not None:
            self.out.write(f"{LOGS}/error/minibatch-{_id(mb_id)}.txt", failure.encode())
            self.out.write(f"{self.base}/failed/{_id(mb_id)}.json", json.dumps(record).encode())
        self.out.write(self.done_rel(mb_id), json.dumps(record).encode())

    def failures(self) -> list[dict[str, Any]]:
        out = []
        for name in self.out.names(f"{self.base}/failed"):
            record = self._json(f"{self.base}/failed/{name}")
            if record is not None:
                out.append(record)
        return sorted(out, key=lambda r: int(r["id"]))

    def rows(self, mb_id: int) -> bytes:
        return self.out.read(self.rows_rel(mb_id)) or b""

    # -- indexes -----------------------------------------------------------------------------------

    def write_progress(self, index: int, counters: Counters) -> None:
        self.out.write(f"{self.base}/progress/{index}.json", json.dumps(asdict(counters)).encode())

    def all_progress(self) -> dict[int, Counters]:
        out = {}
        for name in self.out.names(f"{self.base}/progress"):
            data = self._json(f"{self.base}/progress/{name}")
            if data is not None:
                out[int(name.split(".")[0])] = Counters.of(data)
        return out

    def finish_index(self, index: int, counters: Counters, ok: bool) -> None:
        data = asdict(counters) | {"ok": ok}
        self.out.write(f"{self.base}/indexes/{index}.json", json.dumps(data).encode())

    def finished_indexes(self) -> dict[int, dict[str, Any]]:
        out = {}
        for name in self.out.names(f"{self.base}/indexes"):
            data = self._json(f"{self.base}/indexes/{name}")
            if data is not None:
                out[int(name.split(".")[0])] = data
        return out

    # -- logs/user -------------------------------------------------------------------------------

    def write_log(self, name: str, text: str) -> None:
        self.out.write(f"{LOGS}/{name}", text.encode())
