"""Azure ML scoring scripts: ``init()`` once, then ``run(raw_data)`` per request.

The contract (what azureml-inference-server-http does, so users' scripts run unchanged):

- ``run`` gets the request body as a ``str``, whatever its content type (``GET``: the query
  string as JSON text, each value parsed as JSON when it is JSON); a script decorated with
  inference-schema's ``@input_schema`` instead gets the JSON object's members that are ``run``
  parameters as keyword arguments (other members are ignored), converted by the decorators (and
  those decorators drive ``/swagger.json``); ``@rawhttp`` (or ``--raw-http``) gets the request
  object (:class:`~.azureml_compat.AMLRequest`, werkzeug's request, as Flask's is);
- a ``request_headers`` parameter, if ``run`` declares one, receives the request headers
  (without ``Authorization``);
- the return value may be anything JSON-serializable (numpy/pandas/datetime included, see
  :mod:`.encoding`), a ``str`` (sent as a JSON string, as Azure does; JSON text as is with
  ``MLENDPOINTS_RAW_JSON_STRINGS``), ``bytes`` or an ``AMLResponse``.

Opt-in batching: a script may also define ``run_batch(list_of_raw_data) -> list_of_results``;
with ``maxBatchSize`` > 1 concurrent requests are then scored in one call (plain scripts only).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import logging
import os
import sys
import time
import types
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

import orjson

from mlendpoints.runtime import azureml_compat, encoding, errors
from mlendpoints.runtime.asgi import JSON, Reply, Request, parse_json
from mlendpoints.runtime.config import Settings

log = logging.getLogger("mlendpoints.runtime.script")

PLAIN, SCHEMA, RAW = "plain", "schema", "raw"


class ScriptItem:
    __slots__ = ("arg", "context", "headers", "protocol")

    def __init__(
        self,
        arg: Any,
        headers: dict[str, str] | None,
        protocol: str,
        context: tuple[str, str | None] | None = None,
    ) -> None:
        self.arg = arg
        self.headers = headers
        self.protocol = protocol
        #: (model name, request id) for v2 replies
        self.context = context


def resolve_script(settings: Settings) -> str:
    if not settings.entry_script:
        raise ValueError("no entry script configured (AZUREML_ENTRY_SCRIPT / --entry-script)")
    path = settings.entry_script
    if not os.path.isabs(path):
        path = os.path.join(settings.source_dir or os.getcwd(), path)
    return os.path.abspath(path)


class ScriptScorer:
    """Loads a scoring script and calls it; one instance per server."""

    kind = "custom"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.path = resolve_script(settings)
        self.mode = PLAIN
        self.module: types.ModuleType | None = None
        self._run: Callable[..., Any] | None = None
        self._run_batch: Callable[[list[Any]], Any] | None = None
        self._data_param = "raw_data"
        self._params: set[str] = set()
        self._required: set[str] = set()
        self._defaults: dict[str, Any] = {}
        self._pass_headers = False
        self._user_code: types.CodeType | None = None

    @property
    def run_function(self) -> Callable[..., Any] | None:
        return self._run

    @property
    def batchable(self) -> bool:
        return self._run_batch is not None and self.mode == PLAIN

    # -- loading (background thread) ------------------------------------------------------------

    def load(self) -> None:
        """Import the script, inspect ``run`` and call ``init()``; raises on any failure."""
        if self.settings.model_dir:
            os.environ["AZUREML_MODEL_DIR"] = self.settings.model_dir
        if not os.path.isfile(self.path):
            raise FileNotFoundError(f"entry script not found: {self.path}")
        azureml_compat.install()
        folder = os.path.dirname(self.path)
        if folder not in sys.path:
            sys.path.insert(0, folder)
        stem = os.path.splitext(os.path.basename(self.path))[0]
        # A unique module name per path: inference-schema keys its registry by module + function name.
        name = f"{stem}_{hashlib.sha256(self.path.encode()).hexdigest()[:8]}"
        spec = importlib.util.spec_from_file_location(name, self.path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot import {self.path}")
        module = importlib.util.module_from_spec(spec)
        _forget_schemas(name)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        self.module = module
        for required in ("init", "run"):
            if not callable(getattr(module, required, None)):
                raise AttributeError(f"{self.path} does not define {required}()")
        self._inspect(module)
        log.info("calling init()", extra={"script": self.path, "mode": self.mode})
        module.init()

    def _inspect(self, module: types.ModuleType) -> None:
        run = module.run
        self._run = run
        params = list(inspect.signature(run).parameters.values())
        if any(p.kind not in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params):
            raise TypeError("run() cannot take positional-only arguments, *args or **kwargs")
        self._pass_headers = any(p.name == "request_headers" for p in params)
        params = [p for p in params if p.name != "request_headers"]
        if not params:
            raise TypeError("run() must take an argument for the input data")
        self._data_param = params[0].name
        self._params = {p.name for p in params}
        self._required = {p.name for p in params if p.default is p.empty}
        self._defaults = {p.name: p.default for p in params}
        schema = _schema_decorated(run)
        raw = self.settings.raw_http or azureml_compat.raw_requested(run, module)
        if raw and schema:
            raise TypeError("run() cannot use both @rawhttp and @input_schema")
        self.mode = RAW if raw else SCHEMA if schema else PLAIN
        if schema:
            from inference_schema.schema_util import _get_decorators

            self._user_code = getattr(_get_decorators(run)[-1], "__code__", None)
        batch = getattr(module, "run_batch", None)
        self._run_batch = batch if callable(batch) else None

    # -- request decoding (event loop) -----------------------------------------------------------

    def parse(self, request: Request) -> tuple[ScriptItem, int]:
        """``run``'s input, as azureml-inference-server-http builds it (see the module docstring)."""
        headers = self._headers(request) if self._pass_headers else None
        if self.mode == RAW:
            return ScriptItem(azureml_compat.AMLRequest(request), headers, "azureml"), 1
        if request.method == "GET":
            value = query_input(request.query_string)
            if self.mode == SCHEMA:
                return ScriptItem(self._kwargs(value), headers, "azureml"), 1
            return ScriptItem(json.dumps(value), headers, "azureml"), 1
        if self.mode == SCHEMA:
            if not request.body:
                raise errors.BadRequest("the body is empty; expected a JSON object of run()'s arguments")
            return ScriptItem(self._kwargs(parse_json(request.body)), headers, "azureml"), 1
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise errors.BadRequest(f"body is not UTF-8: {exc}") from None
        return ScriptItem(text, headers, "azureml"), 1

    def parse_v2(self, tensors: list[Any], context: tuple[str, str | None]) -> tuple[ScriptItem, int]:
        """An OIP request as ``run``'s input: ``{input name: nested list}`` (JSON text or kwargs)."""
        if self.mode == RAW:
            raise errors.BadRequest("this model takes raw HTTP requests on /score only")
        inputs = {tensor.name: tensor.array.tolist() for tensor in tensors}
        if self.mode == SCHEMA:
            return ScriptItem(self._kwargs(inputs), None, "v2", context), 1
        return ScriptItem(orjson.dumps(inputs).decode(), None, "v2", context), 1

    def _kwargs(self, value: Any) -> dict[str, Any]:
        """``run``'s keyword arguments from a JSON object: its declared parameters only (other
        members are ignored, as Azure ML does); a required one missing is a 400."""
        if not isinstance(value, dict):
            raise errors.BadRequest("expected a JSON object whose members are run()'s arguments")
        missing = self._required - value.keys()
        if missing:
            raise errors.BadRequest(f"missing input(s) {sorted(missing)}; run() takes {sorted(self._params)}")
        if value.keys() == self._params:
            return value
        # As Azure does: declared parameters only, a missing optional one passed as its default
        # (inference-schema's wrapper reads every argument it declared).
        return {name: value.get(name, default) for name, default in self._defaults.items()}

    @staticmethod
    def _headers(request: Request) -> dict[str, str]:
        return {
            "-".join(p.capitalize() for p in k.decode("latin-1").split("-")): v.decode("latin-1")
            for k, v in request.headers.items()
            if k != b"authorization"
        }

    # -- scoring (worker threads) ----------------------------------------------------------------

    def call(self, item: ScriptItem) -> Any:
        """Call ``run`` and return what it returned (raises what it raised, input errors as 400)."""
        assert self._run is not None
        kwargs: dict[str, Any] = dict(item.arg) if self.mode == SCHEMA else {self._data_param: item.arg}
        if item.headers is not None:
            kwargs["request_headers"] = item.headers
        try:
            return self._run(**kwargs)
        except Exception as exc:
            if self.mode == SCHEMA and not self._reached_user_code(exc):
                raise errors.BadRequest(
                    f"input does not match run()'s schema: {errors.classify(exc, decoding=True).message}"
                ) from exc
            raise

    def _reached_user_code(self, exc: BaseException) -> bool:
        """Whether the traceback entered the script's own ``run`` (else inference-schema rejected it)."""
        tb = exc.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code is self._user_code:
                return True
            tb = tb.tb_next
        return self._user_code is None

    def score_one(self, item: ScriptItem) -> Any:
        started = time.perf_counter()
        result = self.call(item)
        return self.encode(result, item, time.perf_counter() - started)

    def score_many(self, items: Sequence[ScriptItem]) -> list[Any]:
        assert self._run_batch is not None
        started = time.perf_counter()
        try:
            results = self._run_batch([item.arg for item in items])
            if not isinstance(results, list | tuple) or len(results) != len(items):
                raise TypeError(f"run_batch() must return one result per input ({len(items)})")
        except Exception:
            log.exception("run_batch() failed; scoring the %d requests one by one", len(items))
            return [self._outcome(item) for item in items]
        elapsed = (time.perf_counter() - started) / len(items)
        out: list[Any] = []
        for item, result in zip(items, results, strict=True):
            try:
                out.append(self.encode(result, item, elapsed))
            except Exception as exc:
                out.append(exc)
        return out

    def _outcome(self, item: ScriptItem) -> Any:
        try:
            return self.score_one(item)
        except Exception as exc:
            return exc

    def encode(self, result: Any, item: ScriptItem, elapsed_s: float) -> Reply:
        timing = [(b"x-ms-run-fn-exec-ms", f"{elapsed_s * 1000:.3f}".encode())]
        if item.protocol == "v2":
            from mlendpoints.runtime import v2

            name, request_id = item.context or ("model", None)
            return v2.encode_outputs(
                _from_text(result), model_name=name, request_id=request_id, timing=timing
            )
        reply = azureml_compat.to_reply(result)
        if reply is not None:
            reply.headers.extend(timing)
            return reply
        if isinstance(result, str):
            # Azure ML sends a str as a JSON string (clients decode twice); opt-in: JSON text as is.
            body = orjson.dumps(result)
            if self.settings.raw_json_strings:
                try:
                    orjson.loads(result)
                    body = result.encode()
                except orjson.JSONDecodeError:
                    pass
            return Reply(body, 200, JSON, timing)
        if isinstance(result, bytes | bytearray):
            return Reply(bytes(result), 200, b"application/octet-stream", timing)
        try:
            return Reply(encoding.dumps(result), 200, JSON, timing)
        except TypeError as exc:
            raise errors.ScoringError(f"run() returned a value that is not JSON-serializable: {exc}") from exc


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def query_input(query_string: bytes) -> dict[str, Any]:
    """A query string as run()'s input, as Azure ML reads ``GET /score?...``: each value parsed as
    JSON when it is JSON (else kept as text); a name given several times becomes a list."""
    values: dict[str, list[str]] = {}
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        values.setdefault(name, []).append(value)
    return {
        name: _parse_value(items[0]) if len(items) == 1 else [_parse_value(v) for v in items]
        for name, items in values.items()
    }


def _from_text(result: Any) -> Any:
    if isinstance(result, str):
        try:
            return orjson.loads(result)
        except orjson.JSONDecodeError:
            return result
    return result


def _forget_schemas(module_name: str) -> None:
    """Drop inference-schema's registry entries of an earlier load of the same script (it refuses
    to register an output schema twice, so a re-loaded script would fail to import)."""
    registry = sys.modules.get("inference_schema.schema_util")
    for table in (getattr(registry, "__functions_schema__", {}), getattr(registry, "__versions__", {})):
        for key in [k for k in table if k.startswith(module_name + ".")]:
            del table[key]


def _schema_decorated(run: Callable[..., Any]) -> bool:
    if "inference_schema" not in sys.modules:
        return False
    from inference_schema.schema_util import is_schema_decorated

    return bool(is_schema_decorated(run))


def schema_documents(run: Callable[..., Any] | None) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """(input schema, output schema, supported swagger versions) from inference-schema decorators."""
    generic: dict[str, Any] = {"type": "object", "example": {}}
    if run is None or not _schema_decorated(run):
        return generic, {"example": {}}, ["2.0", "3.0", "3.1"]
    from inference_schema.schema_util import get_input_schema, get_output_schema, get_supported_versions

    return get_input_schema(run), get_output_schema(run), list(get_supported_versions(run))
