"""Payload collection (Azure ML's data collector): sampled scoring requests and responses, off the request path.

On the event-loop thread, :meth:`Collector.offer` costs one random draw and one ``deque.append``
(no lock, no thread wake-up). When ``collector_queue_size`` records already wait, the record is
dropped and counted in ``mlendpoints_collector_dropped_total{reason="queue_full"}``: collection
never slows or fails a request. A daemon writer thread wakes every :data:`POLL_S`, shapes the
records (JSON parsing, column extraction, binary side files) and buffers them per collection.

A buffer becomes one file, written whole (atomically for object stores; ``.tmp`` + rename on
local disks), when it reaches ``collector_max_file_bytes``, when the rolling interval
(``minute``/``hour``/``day``) has passed, when the hour partition changes, and on shutdown
(:meth:`Collector.close`, called from the ASGI lifespan after uvicorn has drained in-flight
requests). The layout and the record schema are in ``docs/monitoring.md`` and
:mod:`mlendpoints.api.collector`; ``mlendpoints.monitoring.payloads`` reads them back.
"""

from __future__ import annotations

import collections
import functools
import itertools
import logging
import os
import random
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple, Protocol

import orjson

from mlendpoints.api import collector as dc
from mlendpoints.runtime.collector_shape import record
from mlendpoints.runtime.config import Settings
from mlendpoints.runtime.metrics import Counter, Gauge, Registry

log = logging.getLogger("mlendpoints.runtime.collector")

#: how often the writer thread wakes to drain the queue (seconds)
POLL_S = 0.05
#: most body bytes waiting for the writer (memory bound besides the record count)
QUEUE_BYTES = 64 * 1024 * 1024
#: URI schemes that fsspec knows under another protocol name
_PROTOCOLS = {"abfss": "abfs", "wasbs": "abfs"}


class Item(NamedTuple):
    """What the request path hands over: references only, nothing parsed or copied."""

    time: float
    request_id: str
    route: str
    status: int
    latency_s: float
    body: bytes
    content_type: bytes | None
    reply_body: bytes
    reply_type: bytes


class Sink(Protocol):
    def write(self, relpath: str, data: bytes) -> None:
        """Write one whole file at ``relpath`` under the destination."""


class FsspecSink:
    """Files under an fsspec URI (``file://``, ``az://``, ``s3://``, ``gs://``, ``memory://``...)."""

    def __init__(self, uri: str) -> None:
        import fsspec

        scheme, sep, rest = uri.partition("://")
        if sep and scheme in _PROTOCOLS:
            uri = f"{_PROTOCOLS[scheme]}://{rest}"
        self.fs, self.root = fsspec.core.url_to_fs(uri)
        self.root = self.root.rstrip("/")
        self.local = "file" in self.fs.protocol or "local" in self.fs.protocol

    def write(self, relpath: str, data: bytes) -> None:
        path = f"{self.root}/{relpath}"
        if self.local:  # readers never see a half-written file
            folder, _, name = path.rpartition("/")
            self.fs.makedirs(folder, exist_ok=True)
            tmp = f"{folder}/.{name}.tmp"
            self.fs.pipe_file(tmp, data)
            self.fs.mv(tmp, path)
        else:
            self.fs.pipe_file(path, data)


class StdoutSink:
    """No destination: records go to stdout as JSON lines (binary bodies are skipped)."""

    def write(self, relpath: str, data: bytes) -> None:
        if relpath.endswith(dc.FILE_SUFFIX):
            sys.stdout.buffer.write(data)
            sys.stdout.flush()


class _Part:
    """The file being filled for one collection."""

    __slots__ = ("lines", "opened", "partition", "records", "size")

    def __init__(self, partition: str, opened: float) -> None:
        self.partition = partition
        self.opened = opened
        self.lines: list[bytes] = []
        self.size = 0
        self.records = 0


class Collector:
    """Sampled payload records -> bounded queue -> writer thread -> rotated JSON Lines files."""

    def __init__(
        self,
        settings: Settings,
        metrics: Registry,
        sink: Sink | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.settings = settings
        self.rate = settings.collector_sampling_rate
        self.max_queue = settings.collector_queue_size
        self.collections = settings.collections
        self.roll_s = dc.ROLLING_RATES[settings.collector_rolling_rate]
        dest = settings.collector_destination
        self.sink: Sink = sink or (FsspecSink(dest) if dest else StdoutSink())
        self.prefix = f"{settings.endpoint_name or '_'}/{settings.deployment_name or '_'}"
        # the pod's name: kubelets set HOSTNAME and the UTS hostname (the dev cluster's process nodes only the latter)
        self.file_stem = os.environ.get("HOSTNAME") or socket.gethostname() or f"pid{os.getpid()}"
        self.queue: collections.deque[Item] = collections.deque()
        self._parts: dict[str, _Part] = {}
        self._seq = itertools.count()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._random = random.random
        self._bytes_in = 0
        self._bytes_out = 0
        self.records = Counter("mlendpoints_collector_records", "Payload records written.", ("collection",))
        self.dropped = Counter(
            "mlendpoints_collector_dropped",
            "Payload records lost: queue_full (writer behind) or write_error (destination failed).",
            ("reason",),
        )
        self.files = Counter("mlendpoints_collector_files", "Payload files written.", ("collection",))
        depth = Gauge("mlendpoints_collector_queue_depth", "Payload records waiting for the writer.")
        depth.source = lambda: len(self.queue)
        metrics.extra.extend((self.records, self.dropped, self.files, depth))

    # -- request path (event-loop thread) ------------------------------------------------------

    def offer(self, item: Item) -> None:
        """Queue ``item`` if it is sampled; drop and count it when the queue is full. Never raises.

        Full means ``collector_queue_size`` records or :data:`QUEUE_BYTES` of bodies waiting.
        """
        if self.rate < 1.0 and self._random() >= self.rate:
            return
        size = len(item.body) + len(item.reply_body)
        if len(self.queue) >= self.max_queue or self._bytes_in - self._bytes_out + size > QUEUE_BYTES:
            self.dropped.inc(("queue_full",))
            return
        self._bytes_in += size  # written by this thread only; _bytes_out by the writer only
        self.queue.append(item)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="payload-collector", daemon=True)
        self._thread.start()

    def running(self) -> bool:
        """Whether the writer thread is alive (started and not yet finished by :meth:`close`)."""
        return self._thread is not None and self._thread.is_alive()

    def close(self, timeout_s: float = 20.0) -> None:
        """Write every queued and buffered record, then stop the writer (graceful shutdown).

        Waits at most ``timeout_s`` seconds for the writer thread; past that, logs an error with
        the writer's current stack (where it is blocked) and returns, losing what it still holds.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                frame = sys._current_frames().get(self._thread.ident or -1)
                where = "".join(traceback.format_stack(frame)) if frame is not None else "(no frame)\n"
                log.error(
                    "payload collector did not finish writing within %g s (%d records queued, "
                    "%d buffered); the writer thread is at:\n%s",
                    timeout_s,
                    len(self.queue),
                    sum(part.records for part in list(self._parts.values())),
                    where.rstrip(),
                )

    def _run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(POLL_S)
            self._drain()
            self._roll(self.clock(), force=False)
        self._drain()
        self._roll(self.clock(), force=True)

    # -- writer thread ---------------------------------------------------------------------------

    def _drain(self) -> None:
        queue = self.queue
        while queue:
            item = queue.popleft()
            self._bytes_out += len(item.body) + len(item.reply_body)
            try:
                for collection, line, blob in shape(item, self):
                    if blob is not None:
                        self.sink.write(*blob)
                    self._add(collection, line, item.time)
            except Exception:  # a bad body or a failing destination must not kill the writer
                log.exception("payload record %s could not be written", item.request_id)
                self.dropped.inc(("write_error",))

    def _add(self, collection: str, line: bytes, at: float) -> None:
        partition = partition_of(at)
        part = self._parts.get(collection)
        if part is not None and part.partition != partition:
            self._flush(collection, part)
            part = None
        if part is None:
            part = self._parts[collection] = _Part(partition, self.clock())
        part.lines.append(line)
        part.size += len(line)
        part.records += 1
        if part.size >= self.settings.collector_max_file_bytes:
            self._flush(collection, part)

    def _roll(self, now: float, *, force: bool) -> None:
        for collection, part in list(self._parts.items()):
            if force or now - part.opened >= self.roll_s:
                self._flush(collection, part)

    def _flush(self, collection: str, part: _Part) -> None:
        self._parts.pop(collection, None)
        if not part.records:
            return
        name = f"{self.file_stem}-{int(part.opened * 1000)}-{next(self._seq):06d}{dc.FILE_SUFFIX}"
        relpath = f"{self.prefix}/{collection}/{part.partition}/{name}"
        try:
            self.sink.write(relpath, b"".join(part.lines))
        except Exception:
            log.exception("payload file %s could not be written (%d records lost)", relpath, part.records)
            self.dropped.inc(("write_error",), part.records)
            return
        self.records.inc((collection,), part.records)
        self.files.inc((collection,))

    def blob_path(self, collection: str, at: float, request_id: str) -> str:
        """Where a binary body is written (relative to the destination)."""
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in request_id)
        return f"{self.prefix}/{collection}/{dc.BLOBS_FOLDER}/{partition_of(at)}/{safe}.bin"


@functools.lru_cache(maxsize=4)
def _hour_folder(hour: int) -> str:
    return datetime.fromtimestamp(hour * 3600, UTC).strftime(dc.PARTITION_FORMAT)


def partition_of(at: float) -> str:
    """``YYYY/MM/DD/HH`` (UTC) of an epoch time (formatted once per hour)."""
    return _hour_folder(int(at // 3600))


def shape(item: Item, collector: Collector) -> list[tuple[str, bytes, tuple[str, bytes] | None]]:
    """``[(collection, JSON line, (blob path, blob bytes) | None)]`` for one request.

    The fields common to both collections are serialised once and spliced into each line (both
    parts are JSON objects; orjson writes the time as RFC 3339 with ``Z``): this runs once per
    collected request on the writer thread, whose CPU competes with the request path's.
    """
    settings = collector.settings
    common = orjson.dumps(
        {
            "id": item.request_id,
            "time": datetime.fromtimestamp(item.time, UTC),
            "endpoint": settings.endpoint_name,
            "deployment": settings.deployment_name,
            "route": item.route,
            "status": item.status,
            "latency_ms": round(item.latency_s * 1000, 3),
        },
        option=orjson.OPT_UTC_Z,
    )[1:-1]
    out: list[tuple[str, bytes, tuple[str, bytes] | None]] = []
    for collection in collector.collections:
        if collection == dc.MODEL_INPUTS:
            body, ctype = item.body, item.content_type
        else:
            body, ctype = item.reply_body, item.reply_type
        fields, binary = record(body, ctype, collection)
        blob = None
        if binary:
            if settings.collector_binary == "reference":
                ref = collector.blob_path(collection, item.time, item.request_id)
                fields["payload_ref"] = ref
                blob = (ref, body)
            else:
                fields["skipped"] = "binary"
        rest = orjson.dumps(fields, option=orjson.OPT_SERIALIZE_NUMPY)  # never empty: b'{"...'
        out.append((collection, b"".join((_head(collection), common, b",", rest[1:], b"\n")), blob))
    return out


@functools.lru_cache(maxsize=8)
def _head(collection: str) -> bytes:
    """The start of every line of ``collection``: ``{"collection":...,"schema":1,``."""
    return orjson.dumps({"collection": collection, "schema": dc.SCHEMA_VERSION})[:-1] + b","
