"""One Job index's run: resume, schedule its share over the worker pool, retry, enforce
errorThreshold, record everything in the output, and assemble the job's outputs when it is the
last index to finish.

Assembly: every index writes ``.mlendpoints/<fp>/indexes/<k>.json`` when its share is done, then
lists that folder; the index that sees all ``instance_count`` records (so the last to finish;
two finishing at once may both see them and write identical files) concatenates the mini-batches'
rows in mini-batch order into ``outputFileName`` and writes ``job_result.txt``.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlendpoints.batch.config import APPEND_ROW, RunConfig
from mlendpoints.batch.files import Location, LocationError
from mlendpoints.batch.plan import MiniBatch, Plan, make_plan
from mlendpoints.batch.pool import Event, InitFailed, Pool
from mlendpoints.batch.state import Counters, State, success_record
from mlendpoints.batch.worker import Result

log = logging.getLogger("mlendpoints.batch")
#: Seconds between rewrites of the progress files (and reads of the other indexes' counters).
PROGRESS_EVERY_S = 1.0


@dataclass
class Outcome:
    """The index's result; ``counters`` are the whole job's when ``assembled``, else this index's."""

    ok: bool
    counters: Counters
    message: str
    assembled: bool = False
    error: str = ""
    """First error (the condition message quotes it)."""

    def termination_message(self, config: RunConfig, total: int) -> str:
        data: dict[str, Any] = {"index": config.index, "ok": self.ok, "assembled": self.assembled}
        data |= {_camel(k): v for k, v in asdict(self.counters).items()}
        data["totalMiniBatches"] = total
        data["message"] = self.message[:1000]
        data["error"] = self.error[:2000]
        return json.dumps(data)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Timings:
    """``time.monotonic()`` of the run's start, of every first-started worker having finished
    ``init()``, and of the first finished mini-batch (0: not yet). Logged; read by bench/batch."""

    start: float = 0.0
    workers_ready: float = 0.0
    first_mini_batch: float = 0.0
    worker_cpu_s: float = 0.0
    """CPU seconds the workers spent on mini-batches (``run`` and writing rows), all attempts."""


@dataclass
class _Attempts:
    errors: dict[int, list[str]] = field(default_factory=dict)

    def add(self, mb_id: int, text: str) -> int:
        self.errors.setdefault(mb_id, []).append(text)
        return len(self.errors[mb_id])


class Runner:
    def __init__(self, config: RunConfig, on_progress: Callable[[Counters], None] | None = None) -> None:
        self.config = config
        self.on_progress = on_progress
        self.counters = Counters()
        self.attempts = _Attempts()
        self.stop_reason = ""
        self.first_error = ""
        self.timings = Timings()
        self._workers = self._ready = 0
        self._others = Counters()
        self._last_progress = 0.0
        self._last_written: dict[str, int] = {}

    # -- entry point --------------------------------------------------------------------------------

    def run(self) -> Outcome:
        self.timings.start = time.monotonic()
        cfg = self.config
        try:
            out = Location(cfg.output)
            out.check_writable()
            plan = make_plan(cfg)
        except LocationError as exc:
            return Outcome(False, self.counters, str(exc), error=str(exc))
        self.counters.total_mini_batches = len(plan.mini_batches)
        if not plan.files:
            where = ", ".join(i.path for i in cfg.inputs)
            return Outcome(
                False, self.counters, f"no input files in {where}", error=f"no input files in {where}"
            )
        state = State(out, plan.fingerprint)
        share = plan.share(cfg.index, cfg.instance_count)
        pending = self._resume(state, share)
        log.info(
            "index %d/%d: %d mini-batches (%d already done) of %d, %d files in all",
            cfg.index,
            cfg.instance_count,
            len(share),
            len(share) - len(pending),
            len(plan.mini_batches),
            len(plan.files),
        )
        bi_output = out.path() if out.local else tempfile.mkdtemp(prefix="mlendpoints-bi-output-")
        ok = True
        try:
            if pending:
                self._schedule(state, pending, bi_output)
        except InitFailed as exc:
            ok, self.stop_reason = False, f"init() failed: {exc.message}"
            self.first_error = self.stop_reason
            state.write_log("job_error.txt", f"{self.stop_reason}\n\n{exc.detail}")
        ok = ok and not self.stop_reason
        t = self.timings
        log.info(
            "index %d: ran for %.1f s (workers ready after %.1f s), workers' CPU %.1f s",
            cfg.index,
            time.monotonic() - t.start,
            (t.workers_ready or t.start) - t.start,
            t.worker_cpu_s,
        )
        if not out.local:
            out.upload_tree(bi_output)
        self._write_progress(state, force=True)
        state.finish_index(cfg.index, self.counters, ok)
        if not ok:
            return self._fail(state, plan)
        return self._maybe_assemble(state, plan)

    def _resume(self, state: State, share: list[MiniBatch]) -> deque[MiniBatch]:
        done = state.finished()
        pending: deque[MiniBatch] = deque()
        for mb in share:
            record = done.get(mb.id)
            if record is None:
                pending.append(mb)
            else:
                self._count(record)
        return pending

    def _count(self, record: dict[str, Any]) -> None:
        c = self.counters
        c.completed_mini_batches += 1
        c.succeeded_items += int(record["succeeded"])
        c.failed_items += int(record["failed"])
        if not record["ok"]:
            c.failed_mini_batches += 1

    # -- scheduling -------------------------------------------------------------------------------

    def _schedule(self, state: State, pending: deque[MiniBatch], bi_output: str) -> None:
        cfg = self.config
        self._workers = min(cfg.max_concurrency_per_instance, len(pending))
        pool = Pool(cfg, self._workers, bi_output)
        append = cfg.output_action == APPEND_ROW
        try:
            while (pending and not self.stop_reason) or pool.busy():
                while pending and not self.stop_reason and (free := pool.free()):
                    mb = pending.popleft()
                    rows_rel = state.rows_rel(mb.id) if append else None
                    files = [(f.input, f.rel) for f in mb.files]
                    pool.submit(free[0], mb, mb.id, files, rows_rel, state.done_rel(mb.id))
                for event in pool.poll(PROGRESS_EVERY_S):
                    self._handle(state, event, pending)
                self._write_progress(state)
        finally:
            pool.close()

    def _handle(self, state: State, event: Event, pending: deque[MiniBatch]) -> None:
        if event.kind == "ready":
            self._ready += 1
            if self._ready == self._workers and not self.timings.workers_ready:
                self.timings.workers_ready = time.monotonic()
            return
        mb: MiniBatch = event.task
        self.timings.worker_cpu_s += event.result.cpu_s if event.result is not None else 0.0
        if event.kind == "returned":  # sent to a worker that was killed before it started it
            pending.appendleft(mb)
            return
        result = event.result
        if result is not None and result.ok:
            self._finish(state, mb, result, None)
            return
        error = result.error if result is not None else event.detail
        detail = (result.traceback if result is not None else "") or ""
        tries = self.attempts.add(
            mb.id, f"attempt {len(self.attempts.errors.get(mb.id, [])) + 1}: {error}\n{detail}"
        )
        log.warning("mini-batch %d attempt %d failed: %s", mb.id, tries, error)
        if tries <= self.config.max_retries:
            pending.appendleft(mb)
            return
        self._finish(state, mb, result or Result(False, len(mb.files), error=error), error)

    def _finish(self, state: State, mb: MiniBatch, result: Result, error: str | None) -> None:
        self.timings.first_mini_batch = self.timings.first_mini_batch or time.monotonic()
        files = [self.config.item_name(f.input, f.rel) for f in mb.files]
        if error is None:  # its worker already wrote its rows and record
            record = success_record(mb.id, result.items, result.succeeded, files)
        else:
            record = {
                "id": mb.id,
                "ok": False,
                "items": result.items,
                "succeeded": result.succeeded,
                "failed": result.items - result.succeeded,
                "files": files,
                "error": error,
                "attempts": len(self.attempts.errors.get(mb.id, [])),
            }
            self.first_error = self.first_error or f"mini-batch {mb.id} ({', '.join(files[:3])}): {error}"
            state.record(mb.id, record, self._failure_text(mb.id, files))
        self._count(record)
        threshold = self.config.error_threshold
        failed = self.counters.failed_items + self._others.failed_items
        if threshold != -1 and failed > threshold and not self.stop_reason:
            self.stop_reason = f"{failed} failed items exceed error_threshold {threshold}"
            log.error("%s: no new mini-batches are started", self.stop_reason)

    def _failure_text(self, mb_id: int, files: list[str]) -> str:
        lines = [f"mini-batch {mb_id} failed after {len(self.attempts.errors[mb_id])} attempt(s)", "files:"]
        lines += [f"  {f}" for f in files]
        lines += ["", *self.attempts.errors[mb_id]]
        return "\n".join(lines) + "\n"

    # -- progress ---------------------------------------------------------------------------------

    def _write_progress(self, state: State, *, force: bool = False) -> None:
        now = time.monotonic()
        mine = asdict(self.counters)
        if not force and (now - self._last_progress < PROGRESS_EVERY_S or mine == self._last_written):
            return
        self._last_progress, self._last_written = now, mine
        state.write_progress(self.config.index, self.counters)
        everything = state.all_progress()
        self._others = Counters()
        for index, counters in everything.items():
            if index != self.config.index:
                self._others.add(counters)
        total = Counters(total_mini_batches=self.counters.total_mini_batches)
        for counters in everything.values():
            total.add(counters)
        state.write_log("job_progress_overview.txt", _overview(total))
        if self.on_progress is not None:
            self.on_progress(self.counters)

    # -- the end ----------------------------------------------------------------------------------

    def _fail(self, state: State, plan: Plan) -> Outcome:
        message = f"job failed: {self.stop_reason}"
        if not self.stop_reason.startswith("init()"):
            state.write_log("job_error.txt", _error_summary(state.failures(), self.stop_reason))
        state.write_log("job_result.txt", _result(self.counters, "Failed", self.stop_reason, self.config))
        return Outcome(False, self.counters, message, error=self.first_error or self.stop_reason)

    def _maybe_assemble(self, state: State, plan: Plan) -> Outcome:
        cfg = self.config
        indexes = state.finished_indexes()
        if len(indexes) < cfg.instance_count or not all(r.get("ok") for r in indexes.values()):
            return Outcome(True, self.counters, f"index {cfg.index}: share done", error=self.first_error)
        total = Counters(total_mini_batches=len(plan.mini_batches))
        for record in indexes.values():
            total.add(Counters.of(record))
        failures = state.failures()
        if failures:
            state.write_log("job_error.txt", _error_summary(failures, ""))
        if cfg.output_action == APPEND_ROW:
            done = state.finished()
            ok = [mb.id for mb in plan.mini_batches if done.get(mb.id, {}).get("ok")]
            state.out.write(cfg.output_file_name, b"".join(state.rows(mb_id) for mb_id in ok))
        state.write_log("job_progress_overview.txt", _overview(total))
        state.write_log("job_result.txt", _result(total, "Succeeded", "", cfg))
        first = self.first_error or (_first_failure(failures[0]) if failures else "")
        message = (
            f"{total.completed_mini_batches}/{total.total_mini_batches} mini-batches, "
            f"{total.succeeded_items} items succeeded, {total.failed_items} failed"
        )
        return Outcome(True, total, message, assembled=True, error=first)


def _first_failure(record: dict[str, Any]) -> str:
    files = ", ".join(record.get("files", [])[:3])
    return f"mini-batch {record['id']} ({files}): {record.get('error', '')}"


def _overview(total: Counters) -> str:
    ok = total.completed_mini_batches - total.failed_mini_batches
    return (
        f"{total.completed_mini_batches} of {total.total_mini_batches} mini-batches processed "
        f"({ok} succeeded, {total.failed_mini_batches} failed)\n"
        f"items: {total.succeeded_items} succeeded, {total.failed_items} failed\n"
        f"updated: {_now()}\n"
    )


def _result(total: Counters, result: str, reason: str, cfg: RunConfig) -> str:
    threshold = "-1 (failures ignored)" if cfg.error_threshold == -1 else str(cfg.error_threshold)
    lines = [
        f"result: {result}" + (f" ({reason})" if reason else ""),
        "init(): " + ("failed" if reason.startswith("init()") else "succeeded"),
        f"run(): {total.completed_mini_batches} of {total.total_mini_batches} mini-batches processed, "
        f"{total.failed_mini_batches} failed after retries",
        f"items: {total.succeeded_items} succeeded, {total.failed_items} failed",
        f"error_threshold: {threshold}",
        f"output_action: {cfg.output_action}"
        + (f" ({cfg.output_file_name})" if cfg.output_action == APPEND_ROW else ""),
        f"finished: {_now()}",
    ]
    return "\n".join(lines) + "\n"


def _error_summary(failures: list[dict[str, Any]], reason: str) -> str:
    lines = [reason, ""] if reason else []
    items = sum(int(r.get("failed", 0)) for r in failures)
    lines.append(f"{len(failures)} mini-batch(es) failed, {items} item(s); details in logs/user/error/")
    for record in failures:
        lines += ["", _first_failure(record), f"  attempts: {record.get('attempts', 1)}"]
        lines += [f"  file: {f}" for f in record.get("files", [])]
    return "\n".join(lines) + "\n"


def run_index(config: RunConfig, on_progress: Callable[[Counters], None] | None = None) -> Outcome:
    """Run this index's share; writes the termination message when the config names a file."""
    outcome = Runner(config, on_progress).run()
    if config.termination_log:
        try:
            with open(config.termination_log, "w", encoding="utf-8") as fh:
                fh.write(outcome.termination_message(config, outcome.counters.total_mini_batches)[:4096])
        except OSError as exc:
            log.warning("cannot write the termination message to %s: %s", config.termination_log, exc)
    return outcome


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
