"""Azure ML's scoring-script helpers, so existing scripts run unchanged without Azure packages.

Scripts that need raw HTTP access are written against azureml-inference-server-http::

    from azureml.contrib.services.aml_request import AMLRequest, rawhttp
    from azureml.contrib.services.aml_response import AMLResponse

    @rawhttp
    def run(request): ...                    # request.get_data(), request.headers, request.method
        return AMLResponse(png_bytes, 200, {"Content-Type": "image/png"})

:func:`install` registers these module names, backed by the classes here, unless the real package
is importable (then scripts get the real, Flask-based classes, which :func:`to_reply` also handles).
:class:`AMLRequest` offers the Flask ``Request`` members such scripts use; multipart ``files`` /
``form`` parsing is not offered (send the bytes as the body instead).
"""

from __future__ import annotations

import importlib
import json
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import orjson

from mlendpoints.runtime import errors
from mlendpoints.runtime.asgi import Reply, Request

F = TypeVar("F", bound=Callable[..., Any])

#: set by :func:`rawhttp` (the real package keeps the same module-level flag)
_rawHttpRequested = False
RAW_ATTRIBUTE = "__mlendpoints_rawhttp__"


def rawhttp(func: F) -> F:
    """Mark ``run`` as wanting the raw request object instead of the decoded body."""
    global _rawHttpRequested
    _rawHttpRequested = True
    setattr(func, RAW_ATTRIBUTE, True)
    return func


class Headers(Mapping[str, str]):
    """Case-insensitive, read-only header mapping (Flask's ``request.headers`` subset)."""

    def __init__(self, raw: Mapping[bytes, bytes]) -> None:
        self._raw = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in raw.items()}

    def __getitem__(self, key: str) -> str:
        return self._raw[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter("-".join(part.capitalize() for part in key.split("-")) for key in self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._raw

    def get(self, key: str, default: Any = None) -> Any:
        return self._raw.get(key.lower(), default)


class AMLRequest:
    """The request handed to a ``@rawhttp`` ``run()`` (the Flask ``Request`` members scripts use)."""

    def __init__(self, request: Request) -> None:
        self.method = request.method
        self.path = request.path
        self.query_string = request.query_string
        self.headers = Headers({k: v for k, v in request.headers.items() if k != b"authorization"})
        self.args: dict[str, str] = dict(
            parse_qsl(request.query_string.decode("latin-1"), keep_blank_values=True)
        )
        self.data = request.body
        self.request_id = request.request_id

    @property
    def full_path(self) -> str:
        return f"{self.path}?{self.query_string.decode('latin-1')}"

    @property
    def url(self) -> str:
        host = self.headers.get("host", "localhost")
        suffix = f"?{self.query_string.decode('latin-1')}" if self.query_string else ""
        return f"http://{host}{self.path}{suffix}"

    @property
    def content_type(self) -> str:
        value: str = self.headers.get("content-type", "")
        return value

    @property
    def mimetype(self) -> str:
        return self.content_type.split(";", 1)[0].strip().lower()

    @property
    def content_length(self) -> int:
        return len(self.data)

    def get_data(self, cache: bool = True, as_text: bool = False, parse_form_data: bool = False) -> Any:
        return self.data.decode("utf-8", "replace") if as_text else self.data

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> Any:
        if not force and "json" not in self.mimetype:
            return None
        try:
            return json.loads(self.data)
        except ValueError:
            if silent:
                return None
            raise errors.BadRequest("malformed JSON") from None

    @property
    def json(self) -> Any:
        return self.get_json()


class AMLResponse:
    """What a script may return to control status, headers and body (same signature as Azure's)."""

    def __init__(
        self,
        message: Any,
        status_code: int,
        response_headers: Mapping[str, str] | None = None,
        json_str: bool = False,
        run_function_failed: bool = False,
    ) -> None:
        self.status_code = status_code
        self.headers: dict[str, str] = dict(response_headers or {})
        self.run_function_failed = run_function_failed or status_code >= 500
        if message is None:
            self.body, self.mimetype = b"{}", "application/json"
        elif json_str:
            self.body, self.mimetype = json.dumps(message).encode(), "application/json"
        else:
            self.body = message if isinstance(message, bytes) else str(message).encode()
            self.mimetype = "text/html; charset=utf-8"

    def get_data(self) -> bytes:
        return self.body


def to_reply(response: Any) -> Reply | None:
    """A :class:`Reply` for an ``AMLResponse`` (ours or the real Flask one); ``None`` otherwise."""
    if isinstance(response, AMLResponse):
        content_type = response.mimetype
        headers: list[tuple[bytes, bytes]] = []
        for name, value in response.headers.items():
            if name.lower() == "content-type":
                content_type = value
            elif name.lower() not in {"content-length", "x-request-id"}:
                headers.append((name.lower().encode("latin-1"), str(value).encode("latin-1")))
        if response.run_function_failed:
            headers.append((b"x-ms-run-function-failed", b"True"))
        return Reply(response.body, response.status_code, content_type.encode("latin-1"), headers)
    if hasattr(response, "status_code") and hasattr(response, "get_data") and hasattr(response, "headers"):
        items: Any = response.headers.items()
        flask_headers = [
            (str(k).lower().encode("latin-1"), str(v).encode("latin-1"))
            for k, v in items
            if str(k).lower() not in {"content-type", "content-length"}
        ]
        content_type = str(getattr(response, "content_type", "") or "application/octet-stream")
        return Reply(response.get_data(), int(response.status_code), content_type.encode(), flask_headers)
    return None


def raw_requested(run: Callable[..., Any], module: types.ModuleType) -> bool:
    """Whether ``run`` was decorated with ``@rawhttp`` (ours, or the real package's flag)."""
    if getattr(run, RAW_ATTRIBUTE, False):
        return True
    decorator = getattr(module, "rawhttp", None)
    source = sys.modules.get(getattr(decorator, "__module__", "") or "")
    return bool(
        source is not None
        and source is not sys.modules[__name__]
        and getattr(source, "_rawHttpRequested", False)
    )


_SHIM_MODULES: dict[str, dict[str, Any]] = {
    "azureml.contrib.services.aml_request": {"AMLRequest": AMLRequest, "rawhttp": rawhttp},
    "azureml.contrib.services.aml_response": {"AMLResponse": AMLResponse},
    "azureml_inference_server_http.api.aml_request": {"AMLRequest": AMLRequest, "rawhttp": rawhttp},
    "azureml_inference_server_http.api.aml_response": {"AMLResponse": AMLResponse},
}


def install() -> None:
    """Make ``azureml.contrib.services.aml_request`` / ``aml_response`` importable for scripts."""
    for name, members in _SHIM_MODULES.items():
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
            continue
        except ImportError:
            pass
        parts = name.split(".")
        for depth in range(1, len(parts)):
            parent = ".".join(parts[:depth])
            if parent not in sys.modules:
                try:
                    importlib.import_module(parent)
                except ImportError:
                    package = types.ModuleType(parent, "mlendpoints compatibility shim")
                    package.__path__ = []
                    sys.modules[parent] = package
                    if depth > 1:
                        setattr(sys.modules[".".join(parts[: depth - 1])], parts[depth - 1], package)
        module = types.ModuleType(name, "mlendpoints compatibility shim for Azure ML scoring scripts")
        for member, value in members.items():
            setattr(module, member, value)
        sys.modules[name] = module
        setattr(sys.modules[".".join(parts[:-1])], parts[-1], module)


def dumps(value: Any) -> bytes:
    """JSON bytes for whatever ``run()`` returned (numpy and pandas included)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS, default=_default)


def _default(value: Any) -> Any:
    if hasattr(value, "to_dict") and hasattr(value, "columns"):  # pandas DataFrame
        return value.to_dict(orient="records")
    if hasattr(value, "tolist"):  # pandas Series / Index, numpy arrays orjson refused (object dtype)
        return value.tolist()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    if hasattr(value, "item"):  # numpy scalar types orjson does not know
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
