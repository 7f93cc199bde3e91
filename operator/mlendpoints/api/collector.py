"""The data collector's contract, shared by the operator (which sets it) and the runtime (which reads it).

Plain constants only (no pydantic, no imports), so the scoring runtime can import this module
without pulling in the API models. ``render/env.py`` writes these variables into the scoring
container; ``runtime/config.py`` reads them; ``monitoring/payloads.py`` reads the files the
runtime writes. See ``docs/monitoring.md`` for the record schema and the folder layout.
"""

from __future__ import annotations

#: Environment variables (the operator sets them from ``spec.dataCollector``).
ENV_ENABLED = "MLENDPOINTS_DATA_COLLECTOR_ENABLED"
ENV_SAMPLING_RATE = "MLENDPOINTS_DATA_COLLECTOR_SAMPLING_RATE"
ENV_DESTINATION = "MLENDPOINTS_DATA_COLLECTOR_DESTINATION"
ENV_COLLECTIONS = "MLENDPOINTS_DATA_COLLECTOR_COLLECTIONS"
ENV_ROLLING_RATE = "MLENDPOINTS_DATA_COLLECTOR_ROLLING_RATE"
ENV_BINARY = "MLENDPOINTS_DATA_COLLECTOR_BINARY"
#: Runtime tuning (defaults suit a 1-CPU pod; not in the API).
ENV_QUEUE_SIZE = "MLENDPOINTS_DATA_COLLECTOR_QUEUE_SIZE"
ENV_MAX_FILE_BYTES = "MLENDPOINTS_DATA_COLLECTOR_MAX_FILE_BYTES"
#: Names of the endpoint and deployment (folder names in the layout, fields of each record).
ENV_ENDPOINT = "MLENDPOINTS_ENDPOINT"
ENV_DEPLOYMENT = "MLENDPOINTS_DEPLOYMENT"

#: Azure ML's payload collections: request bodies and response bodies.
MODEL_INPUTS = "model_inputs"
MODEL_OUTPUTS = "model_outputs"
COLLECTIONS = (MODEL_INPUTS, MODEL_OUTPUTS)

#: How often a new file is started (Azure ML's ``rolling_rate``), in seconds.
ROLLING_RATES = {"minute": 60, "hour": 3600, "day": 86400}
DEFAULT_ROLLING_RATE = "minute"

#: What happens to non-JSON (binary) bodies: written to a side file and referenced, or left out.
BINARY_MODES = ("reference", "skip")

#: Version of the record schema (field ``schema`` of every record).
SCHEMA_VERSION = 1
#: ``<destination>/<endpoint>/<deployment>/<collection>/`` then this (UTC), then ``<file>.jsonl``.
PARTITION_FORMAT = "%Y/%m/%d/%H"
#: Side files of binary bodies live under ``<collection>/blobs/<partition>/<request id>.bin``.
BLOBS_FOLDER = "blobs"
FILE_SUFFIX = ".jsonl"
