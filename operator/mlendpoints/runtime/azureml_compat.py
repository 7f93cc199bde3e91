"""Azure ML's scoring-script helpers, so existing scripts run unchanged without Azure packages.

Scripts that need raw HTTP access are written against azureml-inference-server-http::

    from azureml.contrib.services.aml_request import AMLRequest, rawhttp
    from azureml.contrib.services.aml_response import AMLResponse

    @rawhttp
    def run(request): ...                    # request.get_data(), request.headers, request.method
        return AMLResponse(png_bytes, 200, {"Content-Type": "image/png"})

:func:`install` registers these module names, backed by the classes here, unless the real package
is importable (then scripts get the real, Flask-based classes, which :func:`to_reply` also handles).
:class:`AMLRequest` is werkzeug's ``Request`` (what Flask's request, and so Azure's, is built on), so
``files``, ``form``, ``args``, ``values``, ``get_json()`` and the rest behave exactly as on Azure ML.
"""

from __future__ import annotations

import importlib
import io
import json
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from werkzeug.wrappers import Request as _WerkzeugRequest

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


class AMLRequest(_WerkzeugRequest):
    """The request handed to a ``@rawhttp`` ``run()``: werkzeug's ``Request``, as Flask's (and so
    azureml-inference-server-http's) is.

    Everything a Flask request offers to a view is here, parsed lazily by werkzeug in the worker
    thread that runs the script: ``files`` (``FileStorage``: ``filename``, ``content_type``,
    ``read()``, ``stream``, ``save()``; ``files.getlist("file[]")`` for several parts), ``form``,
    ``args``, ``values``, ``get_data()``, ``get_json()`` / ``json``, ``headers``, ``method``,
    ``path``, ``full_path``, ``url``, ``mimetype``, ``content_length``. The ``Authorization``
    header is left out, so endpoint keys never reach user code. ``request_id`` is the id of the
    request (the ``x-request-id`` the client sees).
    """

    #: Flask's default: form fields held in memory (file parts spill to temporary files)
    max_form_memory_size = 500 * 1024

    def __init__(self, request: Request) -> None:
        super().__init__(wsgi_environ(request), populate_request=False, shallow=False)
        self.request_id = request.request_id


def wsgi_environ(request: Request) -> dict[str, Any]:
    """The PEP 3333 environ of an already-read request (body in ``wsgi.input``)."""
    host = request.headers.get(b"host", b"localhost").decode("latin-1")
    name, _, port = host.partition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": request.path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": request.query_string.decode("latin-1"),
        "SERVER_NAME": name,
        "SERVER_PORT": port or "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": str(len(request.body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(request.body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for key, value in request.headers.items():
        if key in (b"authorization", b"content-length"):
            continue
        text = value.decode("latin-1")
        if key == b"content-type":
            environ["CONTENT_TYPE"] = text
        else:
            environ["HTTP_" + key.decode("latin-1").upper().replace("-", "_")] = text
    return environ


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
