"""``mlendpoints run``: start the operator against the current kubeconfig (or in-cluster)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys

from mlendpoints import logjson
from mlendpoints.controller.settings import OperatorSettings


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
    config = OperatorSettings.from_env()
    level = logging.DEBUG if args.verbose else getattr(logging, config.log_level, logging.INFO)
    try:
        logjson.configure(level, config.log_format)
    except ValueError as exc:
        print(f"mlendpoints run: MLENDPOINTS_LOG_FORMAT: {exc}", file=sys.stderr)
        return 2
    import kopf

    from mlendpoints.controller import handlers, metrics

    del handlers  # imported for its registrations
    if args.namespace:  # the flag wins over MLENDPOINTS_NAMESPACES, for kopf AND the operator's cache
        config = dataclasses.replace(
            config, namespaces=sorted({n.strip() for n in args.namespace if n.strip()})
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
