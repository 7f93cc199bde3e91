"""Pollers for ``begin_*``: azure-core's own ``LROPoller`` with a polling method over kstatus.

``begin_*`` returns an ``azure.core.polling.LROPoller`` (the class azure-ai-ml returns) driven by
:class:`KstatusPolling`: ``result()`` waits until the resource is Ready for its current generation
(kstatus, the CLI's ``--wait`` rule: :func:`mlendpoints.azcli.cluster.ready_state`) and returns it
read back as an entity; a Stalled resource makes it raise :class:`StalledError` with the status
message. ``wait``, ``done``, ``status``, ``add_done_callback`` and the background polling thread
are azure-core's. As in azure-core, a ``result(timeout)`` that runs out returns the resource as it
is then (its ``provisioning_state`` says ``Creating``/``Updating``) without raising.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from azure.core.exceptions import HttpResponseError
from azure.core.polling import LROPoller, PollingMethod

T = TypeVar("T")

#: seconds between two reads while waiting
INTERVAL = 1.0


class StalledError(HttpResponseError):
    """The resource is Stalled (kstatus): it will not become Ready without a change. The message
    is ``<Kind> <name> is Stalled: <reason>: <message>`` from its status."""


@dataclass(frozen=True)
class Probe(Generic[T]):
    """One read of the resource: azure-core's status string, the value so far, the Stalled message."""

    #: ``InProgress``, ``Succeeded`` or ``Failed`` (azure-core's status strings)
    status: str
    value: T | None = None
    #: the Stalled message when ``status`` is ``Failed``
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status != "InProgress"


class KstatusPolling(PollingMethod[T]):
    """An azure-core polling method that reads the resource with ``probe`` until it is final.

    Args:
        probe: reads the resource once (it may raise the SDK's errors, e.g. ResourceNotFoundError).
        what: the operation, for the continuation token (``OnlineDeployment blue``).
        interval: seconds between reads.
    """

    def __init__(self, probe: Callable[[], Probe[T]], what: str, *, interval: float = INTERVAL) -> None:
        self._probe = probe
        self._what = what
        self._interval = interval
        self._last: Probe[T] = Probe("InProgress")
        self._raised = False

    def initialize(self, client: Any, initial_response: Any, deserialization_callback: Any) -> None:
        self._last = self._probe()  # done at once: LROPoller starts no thread

    def run(self) -> None:
        """Read until Ready, Stalled or gone (in LROPoller's thread).

        Raises:
            StalledError: the resource is Stalled (LROPoller re-raises it from ``result()``).
        """
        while not self._last.done:
            time.sleep(self._interval)
            self._last = self._probe()
        if self._last.status == "Failed":
            self._raised = True
            raise StalledError(message=self._last.error or "Stalled")

    def status(self) -> str:
        return self._last.status

    def finished(self) -> bool:
        # a Stalled resource is finished only once run() has raised, so that result() raises
        return self._last.status == "Succeeded" or self._raised

    def resource(self) -> T:
        return cast(T, self._last.value)  # None only for deletes, whose T is None

    def get_continuation_token(self) -> str:
        return f"mlendpoints:{self._what}"  # informative only: from_continuation_token is not supported

    @classmethod
    def from_continuation_token(cls, continuation_token: str, **kwargs: Any) -> Any:
        raise NotImplementedError("mlendpoints.sdk pollers cannot be resumed from a continuation token")


#: what ``begin_*`` returns
Poller = LROPoller


def poller(probe: Callable[[], Probe[T]], what: str, *, interval: float = INTERVAL) -> LROPoller[T]:
    """An azure-core ``LROPoller`` over ``probe`` (read once now; polled in a thread until final)."""
    return LROPoller(None, None, lambda raw: raw, KstatusPolling(probe, what, interval=interval))


def finished(value: T, what: str) -> LROPoller[T]:
    """A poller whose operation already completed (e.g. a key regeneration waited for in ``begin_``)."""
    return poller(lambda: Probe("Succeeded", value), what)


def probe_of(obj: dict[str, Any] | None, readback: Callable[[dict[str, Any]], T]) -> Probe[T]:
    """A :class:`Probe` from a resource read from the cluster (``obj``), with kstatus's rule.

    Raises:
        ResourceNotFoundError: ``obj`` is None (deleted while being waited for).
    """
    from azure.core.exceptions import ResourceNotFoundError

    from mlendpoints.azcli import cluster

    if obj is None:
        raise ResourceNotFoundError(message="the resource was deleted while waiting for it to be Ready")
    state, message = cluster.ready_state(obj)
    kind, name = obj.get("kind", "resource"), obj["metadata"]["name"]
    if state == "stalled":
        return Probe("Failed", readback(obj), f"{kind} {name} is Stalled: {message}")
    return Probe("Succeeded" if state == "ready" else "InProgress", readback(obj))
