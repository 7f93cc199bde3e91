"""The batch runner's environment contract, shared with the operator's Job renderer.

Constants only, so :mod:`mlendpoints.render` can import it without pulling in the runner.

The renderer sets every ``MLENDPOINTS_BATCH_*`` variable; Kubernetes sets
``JOB_COMPLETION_INDEX`` in the pods of an Indexed Job. Azure ML's own variables
(``AZUREML_MODEL_DIR``, ``AZUREML_BI_OUTPUT_PATH``, ...) are set by the runner for the workers.
"""

from __future__ import annotations

INPUTS = "MLENDPOINTS_BATCH_INPUTS"
"""JSON object ``{input name: {"type": "uri_folder"|"uri_file", "path": URI or local path}}``."""
OUTPUT = "MLENDPOINTS_BATCH_OUTPUT"
"""Output folder: a local path (a mounted PVC) or an fsspec URI (az://, abfss://, wasbs://, s3://, gs://)."""
MODEL_DIR = "AZUREML_MODEL_DIR"
SOURCE_DIR = "AZUREML_SOURCE_DIRECTORY"
ENTRY_SCRIPT = "AZUREML_ENTRY_SCRIPT"
MODEL_TYPE = "MLENDPOINTS_MODEL_TYPE"
MINI_BATCH_SIZE = "MLENDPOINTS_BATCH_MINI_BATCH_SIZE"
MAX_CONCURRENCY = "MLENDPOINTS_BATCH_MAX_CONCURRENCY_PER_INSTANCE"
OUTPUT_ACTION = "MLENDPOINTS_BATCH_OUTPUT_ACTION"
OUTPUT_FILE_NAME = "MLENDPOINTS_BATCH_OUTPUT_FILE_NAME"
MAX_RETRIES = "MLENDPOINTS_BATCH_MAX_RETRIES"
TIMEOUT = "MLENDPOINTS_BATCH_TIMEOUT"
ERROR_THRESHOLD = "MLENDPOINTS_BATCH_ERROR_THRESHOLD"
LOGGING_LEVEL = "MLENDPOINTS_BATCH_LOGGING_LEVEL"
INSTANCE_COUNT = "MLENDPOINTS_BATCH_INSTANCE_COUNT"
JOB_NAME = "MLENDPOINTS_BATCH_JOB_NAME"
TERMINATION_LOG = "MLENDPOINTS_BATCH_TERMINATION_LOG"
"""Where the pod's summary goes at exit (``/dev/termination-log`` in pods); unset locally."""
JOB_INDEX = "JOB_COMPLETION_INDEX"
"""Set by Kubernetes in each pod of an Indexed Job: ``0 .. completions-1``."""

EXIT_OK = 0
"""The index's share is done (failures below errorThreshold included)."""
EXIT_JOB_FAILED = 3
"""init() failed, errorThreshold was exceeded, or the inputs/outputs are unusable: the Job's
podFailurePolicy fails the whole Job on this code instead of retrying the pod."""
