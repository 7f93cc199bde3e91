"""``mlendpoints serve``: run the scoring server (dispatched from ``mlendpoints.cli``).

Every flag has an environment variable (``mlendpoints serve --help`` lists both); the operator
sets the variables in scoring pods, people use the flags locally, and a flag wins.
"""

from __future__ import annotations

import logging
import sys

from mlendpoints.runtime import config, logs


def main(argv: list[str]) -> int:
    try:
        settings = config.parse_args(argv)
    except ValueError as exc:
        print(f"mlendpoints serve: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # argparse: --help (0) or a malformed flag (2, message printed)
        return exc.code if isinstance(exc.code, int) else 2
    logs.configure(settings.log_level)
    logging.getLogger("mlendpoints.runtime").info(
        "starting scoring server",
        extra={
            "host": settings.host,
            "port": settings.port,
            "model_dir": settings.model_dir,
            "entry_script": settings.entry_script,
            "model_type": settings.model_type,
            "max_concurrent_requests": settings.max_concurrent_requests,
            "request_timeout_ms": settings.request_timeout_ms,
            "max_queue_wait_ms": settings.max_queue_wait_ms,
            "queue_size": settings.queue_size,
            "max_batch_size": settings.max_batch_size,
            "auth": bool(settings.auth_key_dir),
        },
    )
    for ignored in settings.ignored_azure_settings:
        logging.getLogger("mlendpoints.runtime").warning(
            "azureml-inference-server-http setting has no effect here: %s", ignored
        )
    from mlendpoints.runtime import server

    try:
        return server.serve(settings)
    except ValueError as exc:  # nothing to serve (no script, no MLmodel)
        logging.getLogger("mlendpoints.runtime").error("cannot start: %s", exc)
        return 2
