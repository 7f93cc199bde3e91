"""Pollers for ``begin_*``: azure-core ``LROPoller``'s methods over kstatus conditions.

``result()`` waits until the resource is Ready for its current generation (kstatus, the same
rule as the CLI's ``--wait``: :func:`mlendpoints.azcli.cluster.ready_state`) and returns it read
back as an entity; a resource that is Stalled makes it raise :class:`StalledError` with the
status message. Unlike azure-core's poller there is no background thread: ``wait``/``result``
poll in the caller's thread, ``done``/``status`` read the resource once.

As azure-core's ``LROPoller.result(timeout)`` does, a ``timeout`` that runs out returns the
resource as it is then (its ``provisioning_state`` says ``Creating``/``Updating``), without raising.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from azure.core.exceptions import HttpResponseError

T = TypeVar("T")

#: seconds between two reads while waiting
INTERVAL = 1.0


class StalledError(HttpResponseError):
    """The resource is Stalled (kstatus): it will not become Ready without a change. The message
    is ``<Kind> <name> is Stalled: <reason>: <message>`` from its status."""


@dataclass(frozen=True)
class Probe(Generic[T]):
    """One read of the resource: azure-core's status string, whether it is final, the value so far."""

    #: ``InProgress``, ``Succeeded`` or ``Failed`` (azure-core's status strings)
    status: str
    value: T | None = None
    #: the Stalled message when ``status`` is ``Failed``
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status != "InProgress"


class Poller(Generic[T]):
    """An ``LROPoller``-like handle on one applied or deleted resource.

    Args:
        probe: reads the resource once (it may raise the SDK's errors, e.g. ResourceNotFoundError).
        interval: seconds between reads while waiting.
    """

    def __init__(self, probe: Callable[[], Probe[T]], *, interval: float = INTERVAL) -> None:
        self._probe = probe
        self._interval = interval
        self._last: Probe[T] | None = None
        self._callbacks: list[Callable[[Poller[T]], None]] = []

    def _read(self) -> Probe[T]:
        if self._last is None or not self._last.done:
            self._last = self._probe()
            if self._last.done:
                for callback in self._callbacks:
                    callback(self)
        return self._last

    def status(self) -> str:
        """``InProgress``, ``Succeeded`` or ``Failed`` (one read of the resource)."""
        return self._read().status

    def done(self) -> bool:
        """Whether the resource is Ready, Stalled or (for a delete) gone (one read)."""
        return self._read().done

    def wait(self, timeout: float | None = None) -> None:
        """Block until :meth:`done`, or until ``timeout`` seconds (None: no limit) have passed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._read().done:
            if deadline is not None and time.monotonic() >= deadline:
                return
            time.sleep(self._interval)

    def result(self, timeout: float | None = None) -> T | None:
        """Wait (see :meth:`wait`), then return the resource read back (None for a delete).

        Raises:
            StalledError: the resource is Stalled; the message is its status message.
        """
        self.wait(timeout)
        last = self._read()
        if last.status == "Failed":
            raise StalledError(message=last.error or "Stalled")
        return last.value

    def add_done_callback(self, func: Callable[[Poller[T]], None]) -> None:
        """Call ``func(poller)`` once the operation is done (at once if it already is)."""
        if self._last is not None and self._last.done:
            func(self)
        else:
            self._callbacks.append(func)


def finished(value: T) -> Poller[T]:
    """A poller whose operation already completed (e.g. a key regeneration waited for in ``begin_``)."""
    return Poller(lambda: Probe("Succeeded", value))


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
