"""``mlendpoints batch``: run the batch runner, or create and follow BatchJobs in a cluster.

    mlendpoints batch run -f deployment.yaml --input DIR_OR_URI --output DIR   # no cluster
    mlendpoints batch invoke ENDPOINT --input URI [--deployment D] [--output URI] [--set k=v] [--stream]
    mlendpoints batch show JOB | list [ENDPOINT] | cancel JOB        (-n NAMESPACE, --kubeconfig)

``invoke`` creates a BatchJob (the Kubernetes API is the REST trigger; see docs/batch.md), with
``--set`` overrides of the deployment's settings; ``--stream`` follows its phase and progress
until it finishes (exit status 0 Succeeded, 1 Failed or Canceled). ``cancel`` sets
``spec.suspend`` (the Job's pods are deleted; setting it back to false resumes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time
import uuid
from typing import Any

from mlendpoints.api.v1alpha1.base import API_VERSION

ACTIVE = {"Pending", "Running", None}


def _client(args: argparse.Namespace) -> Any:
    from mlendpoints.clients.kube import Kube, load_api_client

    return Kube(load_api_client(args.kubeconfig), field_manager="mlendpoints-cli")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-n",
        "--namespace",
        default="default",
        help="namespace (default: default; the az-ml verbs name the resource with -n)",
    )
    p.add_argument("--kubeconfig", default=None)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mlendpoints batch", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="verb", required=True)
    sub.add_parser("run", help="run the batch runner (locally with -f, or in a Job's pod)", add_help=False)
    inv = sub.add_parser("invoke", help="create a BatchJob on an endpoint")
    inv.add_argument("endpoint")
    inv.add_argument(
        "--input", action="append", required=True, help="input URI (repeatable; name=URI names it)"
    )
    inv.add_argument("--input-type", choices=["uri_folder", "uri_file"], default="uri_folder")
    inv.add_argument("--deployment")
    inv.add_argument("--output", help="output folder URI (pvc://claim/path, az://..., ...)")
    inv.add_argument("--name", help="BatchJob name (default: <endpoint>-<random>)")
    inv.add_argument(
        "--credentials-secret",
        help="Secret in the namespace with the store's credentials (e.g. AZURE_STORAGE_CONNECTION_STRING), "
        "named as credentialsSecretRef of every object-store input and of the output",
    )
    inv.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    inv.add_argument("--stream", action="store_true", help="follow progress until the job finishes")
    _common(inv)
    for verb, help_ in (
        ("show", "print a BatchJob's spec and status (YAML)"),
        ("cancel", "cancel a BatchJob (spec.suspend=true; its progress is kept)"),
        ("stream", "follow a BatchJob's progress until it finishes (exit 0 when it Succeeded)"),
    ):
        sp = sub.add_parser(verb, help=help_)
        sp.add_argument("job", help="BatchJob name")
        _common(sp)
    ls = sub.add_parser("list", help="list the namespace's BatchJobs (of one endpoint when named)")
    ls.add_argument("endpoint", nargs="?", help="batch endpoint name")
    _common(ls)
    return p


def _job_manifest(args: argparse.Namespace) -> dict[str, Any]:
    from mlendpoints.batch.settings import parse_overrides

    inputs = {}
    for n, raw in enumerate(args.input):
        name, sep, uri = raw.partition("=")
        if not sep or "://" in name:
            name, uri = ("data" if len(args.input) == 1 else f"input{n}"), raw
        inputs[name] = {"type": args.input_type, "path": uri}
    overrides = parse_overrides(args.overrides).to_dict() if args.overrides else None
    return job_manifest(
        args.endpoint,
        inputs,
        namespace=args.namespace,
        deployment=args.deployment,
        output=args.output,
        overrides=overrides,
        name=args.name,
        credentials_secret=args.credentials_secret,
    )


def job_manifest(
    endpoint: str,
    inputs: dict[str, dict[str, str]],
    *,
    namespace: str,
    deployment: str | None = None,
    output: str | None = None,
    overrides: dict[str, Any] | None = None,
    name: str | None = None,
    credentials_secret: str | None = None,
) -> dict[str, Any]:
    """A validated BatchJob manifest (also used by :mod:`mlendpoints.sdk`'s ``batch_endpoints.invoke``).

    Args:
        inputs: ``{input name: {"type": "uri_folder"|"uri_file", "path": URI}}``.
        overrides: the deployment settings to override (camelCase, as ``spec.overrides``).
        name: the job's name (default: ``<endpoint>-<6 random hex digits>``).
        credentials_secret: a Secret named as ``credentialsSecretRef`` of every input and of the
            output that is not a ``pvc://`` claim (those need no credentials).

    Raises:
        ValueError: a manifest the API server's schema would reject (pydantic's ValidationError).
    """
    from mlendpoints.api.v1alpha1.batch import BatchJob

    def credentials(uri: str) -> dict[str, Any]:
        needed = credentials_secret and not uri.startswith("pvc://")
        return {"credentialsSecretRef": {"name": credentials_secret}} if needed else {}

    inputs = {key: {**value, **credentials(value["path"])} for key, value in inputs.items()}
    spec: dict[str, Any] = {"endpointName": endpoint, "inputs": inputs}
    if deployment:
        spec["deploymentName"] = deployment
    if output:
        spec["output"] = {"path": output, **credentials(output)}
    if overrides:
        spec["overrides"] = overrides
    # names are at most 32 characters (Azure ML's limit, a CRD rule)
    name = name or f"{endpoint[:25].rstrip('-')}-{uuid.uuid4().hex[:6]}"
    body = {
        "apiVersion": API_VERSION,
        "kind": "BatchJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    BatchJob.model_validate(body)  # the same rules the API server's schema enforces, with clearer messages
    return body


def _line(body: dict[str, Any]) -> str:
    status = body.get("status") or {}
    ready: dict[str, Any] = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), {})
    return (
        f"{body['metadata']['name']}  phase={status.get('phase') or '-'}  progress={status.get('progressText') or '-'}"
        f"  reason={ready.get('reason') or '-'}" + (f"  {ready['message']}" if ready.get("message") else "")
    )


def _stream(kube: Any, namespace: str, name: str) -> int:
    from mlendpoints.clients import resources

    last = ""
    while True:
        body = kube.get(resources.BATCH_JOB, namespace, name)
        if body is None:
            print(f"BatchJob {name} was deleted", file=sys.stderr)
            return 1
        line = _line(body)
        if line != last:
            print(line, flush=True)
            last = line
        phase = (body.get("status") or {}).get("phase")
        if phase not in ACTIVE:
            out = (body.get("status") or {}).get("outputUri")
            if out:
                print(f"outputs: {out}")
            return 0 if phase == "Succeeded" else 1
        time.sleep(2)


def main(argv: list[str]) -> int:
    if argv and argv[0] == "run":
        from mlendpoints.batch.cli import main as run_main

        return run_main(argv[1:])
    args = _parser().parse_args(argv)
    from mlendpoints.clients import resources

    kube = _client(args)
    if args.verb == "invoke":
        try:
            body = _job_manifest(args)
        except ValueError as exc:
            print(f"mlendpoints batch invoke: {exc}", file=sys.stderr)
            return 2
        try:
            created = kube.create(body)
        except Exception as exc:  # the API server's rejection (schema, CEL, conflict, RBAC)
            reason = getattr(exc, "body", None) or exc
            with contextlib.suppress(ValueError):
                reason = json.loads(str(reason)).get("message", reason)
            print(
                f"mlendpoints batch invoke: the API server rejected the BatchJob: {reason}", file=sys.stderr
            )
            return 1
        print(f"batchjob.mlendpoints.io/{created['metadata']['name']} created")
        return _stream(kube, args.namespace, created["metadata"]["name"]) if args.stream else 0
    if args.verb == "list":
        for body in kube.list(resources.BATCH_JOB, args.namespace):
            if args.endpoint is None or (body.get("spec") or {}).get("endpointName") == args.endpoint:
                print(_line(body))
        return 0
    body = kube.get(resources.BATCH_JOB, args.namespace, args.job)
    if body is None:
        print(f"BatchJob {args.job!r} not found in namespace {args.namespace}", file=sys.stderr)
        return 1
    if args.verb == "stream":
        return _stream(kube, args.namespace, args.job)
    if args.verb == "show":
        import yaml

        print(yaml.safe_dump({"spec": body.get("spec"), "status": body.get("status")}, sort_keys=False))
        return 0
    kube.patch(resources.BATCH_JOB, args.namespace, args.job, {"spec": {"suspend": True}})
    print(f"batchjob.mlendpoints.io/{args.job} canceled (spec.suspend=true)")
    return 0
