"""Azure's model, code, environment and instance type blocks -> ours (shared by online and batch deployments).

Local folders become uploads or ConfigMaps (:mod:`.local`), Azure VM sizes InstanceTypes
(:mod:`.sizes`); what cannot be mapped is a :class:`~.common.ConvertError` naming the field.
"""

from __future__ import annotations

from typing import Any

from mlendpoints.convert import local, sizes
from mlendpoints.convert.common import (
    ConvertError,
    Doc,
    Options,
    Result,
    UnknownInstanceType,
    camel,
    model_type,
)


def model_block(doc: Doc, raw: Any, owner: str, opts: Options, result: Result) -> dict[str, Any]:
    """Azure's ``model`` (an ``azureml:`` reference, a URI, a local path, or a mapping) -> our ModelSpec.

    Raises:
        ConvertError: a registered ``azureml:`` model (the cluster has no Azure ML registry), a
            local path without a model store, a local path that does not exist.
    """
    spec: dict[str, Any] = {}
    if isinstance(raw, str):
        raw = {"path": raw}
    if not isinstance(raw, dict) or not raw.get("path"):
        if isinstance(raw, dict) and raw.get("name"):
            raw = {**raw, "path": f"azureml:{raw['name']}:{raw.get('version', 'latest')}"}
        else:
            raise ConvertError(f"{doc.where}: model: needs a path (a local folder or a URI)")
    raw = dict(raw)
    path = str(raw.pop("path"))
    if path.startswith("azureml:") and opts.azureml is None:
        raise ConvertError(
            f"{doc.where}: model: {path} is a model registered in an Azure ML workspace, which a cluster "
            "cannot read; point model.path at the model's folder (local, or az://, s3://, gs://, https://, pvc://), "
            "or convert for target azureml (--azureml SUBSCRIPTION_ID/RESOURCE_GROUP/WORKSPACE)"
        )
    if local.is_local(path):
        spec["path"] = upload(doc, path, f"model of {owner}", "model", opts, result)
    else:
        spec["path"] = path
    if "type" in raw:
        spec["type"] = model_type(doc, str(raw.pop("type")))
    elif path.startswith("azureml:") and doc.body.get("code_configuration") is None:
        raise ConvertError(
            f"{doc.where}: model: {path} names no type, which Azure ML reads from its registry: write "
            "model: {path: ..., type: mlflow_model} for an MLflow model, or add code_configuration"
        )
    for key in sorted(raw):
        result.warnings.append(
            f"{doc.where}: model.{key}: ignored (a model is a folder here, not a registered asset)"
        )
    if opts.store_secret and local.is_local(path):
        spec["credentialsSecretRef"] = {"name": opts.store_secret}
    return spec


def upload(doc: Doc, value: str, what: str, slug: str, opts: Options, result: Result) -> str:
    """Plan the upload of a local path; returns the URI it will have.

    Raises:
        ConvertError: the path does not exist, or no model store is configured.
    """
    try:
        path = local.resolve(value, doc.base, what)
    except local.LocalPathError as exc:
        raise ConvertError(f"{doc.where}: {exc}") from exc
    if opts.model_store is None:
        raise ConvertError(
            f"{doc.where}: {what}: {value} is a local path, which the cluster cannot read. Give a store to "
            "upload it to: --model-store az://CONTAINER/PREFIX --store-secret SECRET (`online-deployment create` "
            "uploads to the dev cluster's Azurite by itself), or upload it yourself (e.g. `az storage blob "
            "upload-batch -s PATH -d CONTAINER`) and write its az:// URI"
        )
    name = doc.body.get("name", "x")
    uri = local.store_uri(
        opts.model_store, str(doc.body.get("endpoint_name", "")), f"{name}-{slug}", local.content_hash(path)
    )
    result.uploads.append(local.Upload(path, uri, f"{what} ({value})"))
    return uri


#: ``code: configmap:NAME`` names a ConfigMap in the namespace (the code of a deployment read back)
CONFIGMAP_CODE = "configmap:"


def code_block(doc: Doc, raw: Any, opts: Options, result: Result) -> dict[str, Any]:
    """Azure's ``code_configuration`` -> ours: a local folder becomes a ConfigMap (or an upload),
    ``configmap:NAME`` refers to an existing ConfigMap."""
    raw = dict(raw or {})
    script = raw.pop("scoring_script", None)
    code = raw.pop("code", None)
    out: dict[str, Any] = {"scoringScript": script}
    if code is None:
        raise ConvertError(f"{doc.where}: code_configuration.code: required")
    code = str(code)
    if code.startswith("azureml:") and opts.azureml is None:
        raise ConvertError(
            f"{doc.where}: code_configuration.code: {code} is an Azure ML code asset; give its folder"
        )
    if code.startswith(CONFIGMAP_CODE):  # a ConfigMap already in the namespace (what `get` reads back)
        out["configMap"] = {"name": code.removeprefix(CONFIGMAP_CODE)}
    elif local.is_local(code):
        try:
            folder = local.resolve(code, doc.base, "code_configuration.code")
        except local.LocalPathError as exc:
            raise ConvertError(f"{doc.where}: {exc}") from exc
        name = f"{doc.body.get('endpoint_name')}-{doc.body.get('name')}-code"[:253]
        cm = None if opts.in_place else local.code_config_map(folder, name, opts.namespace)
        if cm is not None:
            result.objects.append(cm)
            out["configMap"] = {"name": name}
        else:
            out["code"] = upload(doc, code, "code_configuration.code", "code", opts, result)
    else:
        out["code"] = code
    for key in sorted(raw):
        result.warnings.append(f"{doc.where}: code_configuration.{key}: ignored (no mlendpoints counterpart)")
    return out


def environment_block(doc: Doc, raw: Any, opts: Options, result: Result) -> dict[str, Any]:
    """Azure's ``environment`` -> ours (conda files are read and inlined)."""
    if isinstance(raw, str) and opts.azureml is not None:
        raise ConvertError(
            f"{doc.where}: environment: {raw} is an Azure ML environment asset, which the manifest cannot "
            "name; write the environment's image (and conda_file) instead"
        )
    if isinstance(raw, str):
        result.warnings.append(
            f"{doc.where}: environment: {raw} is an Azure ML environment asset; the scoring runtime image is "
            "used (list extra packages in environment.pip_requirements or a conda_file)"
        )
        return {}
    raw = dict(raw or {})
    out: dict[str, Any] = {}
    if "build" in raw:
        raise ConvertError(
            f"{doc.where}: environment.build: the cluster builds no images; build and push it, then set environment.image"
        )
    image = raw.pop("image", None)
    custom = "inference_config" in raw
    azure_base = str(image or "").startswith("mcr.microsoft.com/azureml/")
    if image and (custom or not azure_base or opts.azureml is not None):  # Azure ML runs its own images
        out["image"] = image
    elif image:
        result.warnings.append(
            f"{doc.where}: environment.image: {image} is an Azure ML base image without the mlendpoints "
            "runtime; the scoring runtime image is used with the conda file's pip packages"
        )
    conda = raw.pop("conda_file", None)
    if conda is not None:
        if isinstance(conda, dict):  # inline (and what azure-ai-ml's Environment serializes a file to)
            import yaml

            text = yaml.safe_dump(conda, sort_keys=False)
        else:
            try:
                text = local.resolve(str(conda), doc.base, "environment.conda_file").read_text()
            except (local.LocalPathError, OSError) as exc:
                raise ConvertError(f"{doc.where}: {exc}") from exc
        out["condaFile"] = text if opts.azureml is not None else _without_azure_server(doc, text, result)
    if custom:
        cfg = raw.pop("inference_config") or {}
        out["inferenceConfig"] = {camel(k): v for k, v in cfg.items()}
    for key in sorted(raw):
        result.warnings.append(f"{doc.where}: environment.{key}: ignored (an environment is an image here)")
    return out


#: pip packages of Azure's inference server, which the mlendpoints runtime replaces
AZURE_SERVER_PACKAGES = ("azureml-defaults", "azureml-inference-server-http")


def _without_azure_server(doc: Doc, text: str, result: Result) -> str:
    """The conda file without Azure's inference server packages (a warning names each one dropped)."""
    import re

    kept = []
    for line in text.splitlines(keepends=True):
        item = line.strip().removeprefix("- ").strip().strip("'\"")
        name = re.split(r"[=<>~!\[ ]", item, maxsplit=1)[0].lower()
        if line.lstrip().startswith("-") and name in AZURE_SERVER_PACKAGES:
            result.warnings.append(
                f"{doc.where}: environment.conda_file: {item} dropped (the mlendpoints runtime is the inference server)"
            )
            continue
        kept.append(line)
    return "".join(kept)


def instance_type(doc: Doc, value: str, opts: Options, result: Result) -> str:
    """An Azure VM size -> an InstanceType name (a mapped one, or the table's, which is added to the output).

    Raises:
        ConvertError: a ``Standard_*`` size neither mapped nor in the table (lists the table).
    """
    if value in opts.instance_types:
        return opts.instance_types[value]
    if opts.azureml is not None:
        return value  # target azureml: Azure ML's own VM size (or the attached compute's instance type)
    if not sizes.is_azure_size(value):
        return value
    try:
        it = sizes.instance_type(value)
    except sizes.UnknownSize as exc:
        raise UnknownInstanceType(f"{doc.where}: instance_type: {exc}") from exc
    if not any(
        o["kind"] == "InstanceType" and o["metadata"]["name"] == it["metadata"]["name"]
        for o in result.objects
    ):
        result.objects.insert(0, it)
    name: str = it["metadata"]["name"]
    return name
