"""``mlendpoints run``: start the operator against the current kubeconfig (or in-cluster)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys

from mlendpoints import logjson
from mlendpoints.controller.settings import OperatorSettings, SettingsError

log = logging.getLogger(__name__)
#: Longest wait between two attempts to reach the API server at startup, seconds.
MAX_BACKOFF = 30.0


class PerEventAtDebug(logging.Filter):
    """kopf's "Handler 'x' succeeded." (one per watch event) and aiohttp's access line (one per
    liveness probe) are DEBUG records: at INFO the log holds what changed, not every event."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        per_event = record.name == "aiohttp.access" or (
            record.name == "kopf.objects"
            and re.fullmatch(r"Handler '[^']*' succeeded\.", record.getMessage())
        )
        if not per_event:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return self.level <= logging.DEBUG


def _reason(exc: BaseException) -> str:
    """The innermost cause of a connection error, in one line (urllib3 nests it in MaxRetryError)."""
    reason = getattr(exc, "reason", None)
    text = str(reason if isinstance(reason, BaseException) else exc)
    return " ".join(text.split())[:300]


def _wait_for_cluster() -> bool:
    """Block until the API server answers, logging one line per failed attempt (backoff 1 s doubling
    to :data:`MAX_BACKOFF`), so a missing cluster is a readable log, not a traceback loop.

    Returns:
        False when no kubeconfig (and no in-cluster config) exists: retrying cannot help.
    """
    import time

    from kubernetes.config import ConfigException

    from mlendpoints.clients.kube import Kube, load_api_client

    try:
        api = load_api_client()
    except (ConfigException, OSError) as exc:
        log.error("no cluster to run against: no in-cluster config and no usable kubeconfig (%s)", exc)
        return False
    kube, delay, attempt = Kube(api), 1.0, 1
    pool_log = logging.getLogger("urllib3.connectionpool")
    while True:
        pool_level = pool_log.level
        pool_log.setLevel(logging.ERROR)  # its per-retry warnings would say the same thing 3 times
        try:
            kube.has_resource("v1", "namespaces")
            return True
        except Exception as exc:  # any failure to get an answer: report it and try again
            log.warning(
                "the API server %s is not reachable (attempt %d): %s; retrying in %.0fs",
                api.configuration.host, attempt, _reason(exc), delay,
            )  # fmt: skip
        finally:
            pool_log.setLevel(pool_level)
        time.sleep(delay)
        delay, attempt = min(delay * 2, MAX_BACKOFF), attempt + 1


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mlendpoints run", description="Run the mlendpoints operator.")
    parser.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=None,
        help="namespace to watch (repeatable); default: MLENDPOINTS_NAMESPACES or all",
    )
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    try:
        config = OperatorSettings.from_env()
    except SettingsError as exc:
        print(f"mlendpoints run: invalid setting: {exc}", file=sys.stderr)
        return 2
    level = logging.DEBUG if args.verbose else getattr(logging, config.log_level, logging.INFO)
    logjson.configure(level, config.log_format)
    for handler in logging.getLogger().handlers:
        handler.addFilter(PerEventAtDebug(level))
    if config.log_format == "json":
        sys.stdout = logjson.StdoutToLog()  # libraries' prints (azure-ai-ml's poll dots) as log lines
    if not _wait_for_cluster():
        return 1
    import kopf

    from mlendpoints.controller import handlers, metrics

    del handlers  # imported for its registrations
    if args.namespace:  # the flag wins over MLENDPOINTS_NAMESPACES, for kopf AND the operator's cache
        config = config.model_copy(
            update={"namespaces": sorted({n.strip() for n in args.namespace if n.strip()})}
        )
    metrics.serve(config.metrics_port, config.bind_address)
    asyncio.run(
        kopf.operator(
            standalone=not config.peering,
            peering_name=config.peering or None,
            namespaces=config.namespaces,
            clusterwide=not config.namespaces,
            liveness_endpoint=f"http://{config.bind_address}:{config.liveness_port}/healthz",
            memo=kopf.Memo(settings=config),
        )
    )
    return 0
