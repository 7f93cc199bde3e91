"""The runtime's error types and the one table that maps them to HTTP statuses.

Every failure a client can see is an :class:`HTTPError` subclass; :func:`classify` turns any other
exception into one (a ``run`` that raises becomes :class:`ScoringError`, 500). The app writes the
error with :func:`render`, so every route answers errors the same way: a short JSON body
``{"error": message, "code": Code, "request_id": id}`` (``error`` is a string, as the Open Inference
Protocol requires; Azure clients read ``message`` too) and, in debug mode only, the traceback.
"""

from __future__ import annotations

import traceback

import orjson

from mlendpoints.api import contract


class HTTPError(Exception):
    """An error with a status code and a client-safe message."""

    status = 500
    code = "InternalError"
    #: extra response headers, e.g. ``Retry-After``
    headers: tuple[tuple[bytes, bytes], ...] = ()

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(HTTPError):
    status, code = 400, "BadRequest"


class SchemaMismatch(BadRequest):
    """The input does not match the model signature (names the column or the shape)."""

    code = "SchemaMismatch"


class Unauthorized(HTTPError):
    status, code = 401, "Unauthorized"
    headers = ((b"www-authenticate", b'Bearer realm="mlendpoints"'),)


class NotFound(HTTPError):
    status, code = 404, "NotFound"


class ForeignPin(NotFound):
    """A request pinned (``azureml-model-deployment``) to another deployment than this one.

    The endpoint's route sends a pin to the deployment it names; one that reaches this deployment
    named none of the endpoint's (e.g. a misspelt name) and the default rule took it. Serving it
    would answer from a deployment the client did not ask for; the local front answers such a pin
    404 too (:mod:`mlendpoints.local.front`).
    """

    code = "DeploymentNotFound"

    def __init__(self, pin: bytes, own: str) -> None:
        asked = pin.decode("ascii", "replace")[:64]
        super().__init__(
            f"no deployment {asked!r} serves this endpoint ({contract.DEPLOYMENT_HEADER} pins a deployment "
            f"of the endpoint; the request reached {own!r})"
        )


class MethodNotAllowed(HTTPError):
    status, code = 405, "MethodNotAllowed"

    def __init__(self, message: str, allow: str) -> None:
        super().__init__(message)
        self.headers = ((b"allow", allow.encode()),)


class RequestTimeout(HTTPError):
    status, code = 408, "RequestTimeout"


class PayloadTooLarge(HTTPError):
    status, code = 413, "PayloadTooLarge"


class UnsupportedMediaType(HTTPError):
    status, code = 415, "UnsupportedMediaType"


class TooManyRequests(HTTPError):
    status, code = 429, "TooManyRequests"
    headers = ((b"retry-after", b"1"),)


class HeaderTooLarge(HTTPError):
    status, code = 431, "RequestHeaderFieldsTooLarge"


class ScoringError(HTTPError):
    """``run()`` / ``predict()`` raised; the message never carries the exception text."""

    status, code = 500, "ScoringError"


class ServiceUnavailable(HTTPError):
    status, code = 503, "ServiceUnavailable"

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.headers = ((b"retry-after", str(max(1, retry_after_s)).encode()),)


class QueueTimeout(ServiceUnavailable):
    """The request waited longer than ``maxQueueWaitMs`` for a free slot."""

    code = "QueueWaitTimeout"


class NotReady(ServiceUnavailable):
    code = "NotReady"


class Cancelled(BaseException):
    """Raised asynchronously inside a timed-out worker call (``BaseException``: scripts'
    ``except Exception`` blocks must not swallow it)."""


#: client-caused built-in exceptions raised while *decoding* input (never from user code)
_DECODE_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError, KeyError, IndexError, OverflowError)


def classify(exc: BaseException, *, decoding: bool = False) -> HTTPError:
    """Map any exception to an :class:`HTTPError` (the exception -> status table).

    Args:
        exc: what was raised.
        decoding: the exception came from turning the request into model input (our code, not the
            user's), so built-in value errors are the client's fault (400) rather than ours (500).
    """
    if isinstance(exc, HTTPError):
        return exc
    if isinstance(exc, Cancelled):
        return RequestTimeout("scoring was cancelled after the request timeout")
    if decoding and isinstance(exc, _DECODE_ERRORS):
        return BadRequest(f"invalid input: {short(exc)}")
    if _is_mlflow_input_error(exc):
        return SchemaMismatch(short(exc, limit=600))
    return ScoringError(f"scoring failed with {type(exc).__name__}")


def _is_mlflow_input_error(exc: BaseException) -> bool:
    if type(exc).__name__ != "MlflowException":
        return False
    return getattr(exc, "error_code", "") in {"INVALID_PARAMETER_VALUE", "BAD_REQUEST"}


def short(exc: BaseException, limit: int = 300) -> str:
    text = str(exc).strip().replace("\n", " ") or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def render(
    error: HTTPError,
    request_id: str,
    *,
    debug: bool = False,
    cause: BaseException | None = None,
) -> bytes:
    """The JSON body of an error response."""
    body: dict[str, object] = {
        "error": error.message,
        "message": error.message,
        "code": error.code,
        "request_id": request_id,
    }
    if debug and cause is not None and cause is not error:
        body["traceback"] = "".join(traceback.format_exception(cause))
    return orjson.dumps(body)
