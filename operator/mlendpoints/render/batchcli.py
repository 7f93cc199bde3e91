"""``mlendpoints render`` for batch resources: each BatchJob's Indexed Job.

A BatchJob is rendered with the deployment it names (or its endpoint's default), both taken from
the input; BatchEndpoints and BatchDeployments create no Kubernetes objects of their own.
"""

from __future__ import annotations

from typing import Any

import yaml

from mlendpoints.api.v1alpha1 import BatchDeployment, BatchEndpoint, BatchJob, InstanceType
from mlendpoints.api.v1alpha1.base import on_kubernetes
from mlendpoints.render import batchjob
from mlendpoints.render.errors import RenderError
from mlendpoints.render.settings import RenderSettings


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _resolve(job: BatchJob, objs: list[Any]) -> BatchDeployment | str:
    ns = job.metadata.namespace
    name = job.spec.deployment_name
    if name is None:
        ep = next((o for o in objs if isinstance(o, BatchEndpoint) and o.metadata.name == job.spec.endpoint_name
                   and o.metadata.namespace == ns), None)  # fmt: skip
        if ep is None:
            return f"BatchEndpoint {job.spec.endpoint_name} is not in the input (the job names no deployment)"
        name = ep.spec.defaults.deployment_name
        if name is None:
            return f"BatchEndpoint {job.spec.endpoint_name} has no defaults.deploymentName"
    dep = next((o for o in objs if isinstance(o, BatchDeployment) and o.metadata.name == name
                and o.metadata.namespace == ns), None)  # fmt: skip
    return dep if dep is not None else f"BatchDeployment {name} is not in the input"


def render_batch(
    objs: list[Any], instance_types: dict[str, InstanceType], settings: RenderSettings, notes: list[str]
) -> str:
    """The YAML stream of every BatchJob's Job in ``objs``; problems go to ``notes``.

    Raises:
        RenderError: a job that cannot run (the message names the job and the field).
    """
    out = []
    for job in (o for o in objs if isinstance(o, BatchJob)):
        ep = next((o for o in objs if isinstance(o, BatchEndpoint) and o.metadata.name == job.spec.endpoint_name
                   and o.metadata.namespace == job.metadata.namespace), None)  # fmt: skip
        if ep is not None and not on_kubernetes(ep.spec.target):
            notes.append(f"BatchJob {job.metadata.name}: target azureml creates no Kubernetes objects")
            continue
        dep = _resolve(job, objs)
        if isinstance(dep, str):
            notes.append(f"BatchJob {job.metadata.name}: {dep}; not rendered")
            continue
        it = instance_types.get(dep.spec.instance_type or "")
        if dep.spec.instance_type and it is None:
            notes.append(
                f"BatchJob {job.metadata.name}: InstanceType {dep.spec.instance_type} is not in the input"
            )
        try:
            obj = batchjob.batch_job(job, deployment=dep, compute=it.spec if it else None, settings=settings)
        except RenderError as exc:
            raise RenderError(f"BatchJob {job.metadata.name}: {exc}") from exc
        header = f"# BatchJob {job.metadata.namespace}/{job.metadata.name} with BatchDeployment {dep.metadata.name}\n"
        out.append(header + "---\n" + yaml.dump(obj, Dumper=_Dumper, sort_keys=False))
    return "".join(out)
