"""Deterministic work: the sorted input files, their mini-batches, and each Job index's share.

Every pod of a Job lists the same inputs and computes the same plan, so a retried pod redoes
exactly its own share and the outputs can be assembled in input order. Mini-batch ``i`` holds
files ``i*size .. (i+1)*size-1`` of the listing (inputs in name order, each listed recursively in
byte order of the relative paths); index ``k`` of ``n`` takes the contiguous range of mini-batches
``floor(k*m/n) .. floor((k+1)*m/n)-1``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from mlendpoints.batch.config import RunConfig
from mlendpoints.batch.files import Location


@dataclass(frozen=True)
class InputFile:
    input: int
    """Index into :attr:`RunConfig.inputs`."""
    rel: str
    """Path below the input ('/'-separated); the file name for a uri_file input."""


@dataclass(frozen=True)
class MiniBatch:
    id: int
    files: tuple[InputFile, ...]


@dataclass(frozen=True)
class Plan:
    files: tuple[InputFile, ...]
    mini_batches: tuple[MiniBatch, ...]
    fingerprint: str
    """Hash of the listing and the mini-batch size: names this plan's state in the output."""

    def share(self, index: int, count: int) -> list[MiniBatch]:
        """The mini-batches of Job index ``index`` out of ``count``."""
        m = len(self.mini_batches)
        return list(self.mini_batches[index * m // count : (index + 1) * m // count])


def make_plan(config: RunConfig) -> Plan:
    """List the inputs and cut the listing into mini-batches.

    Raises:
        LocationError: an input does not exist or cannot be listed.
    """
    files: list[InputFile] = []
    for i, inp in enumerate(config.inputs):
        listed = Location(inp.path).list_files(single=inp.type == "uri_file")
        files.extend(InputFile(i, rel) for rel in listed)
    size = config.mini_batch_size
    batches = tuple(
        MiniBatch(n, tuple(files[start : start + size])) for n, start in enumerate(range(0, len(files), size))
    )
    digest = hashlib.sha256(f"{size}\n".encode())
    for inp in config.inputs:
        digest.update(f"input {inp.name} {inp.type} {inp.path}\n".encode())
    for f in files:
        digest.update(f"{f.input}/{f.rel}\n".encode())
    return Plan(tuple(files), batches, digest.hexdigest()[:16])
