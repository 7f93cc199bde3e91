"""What every operation group of :class:`mlendpoints.sdk.MLClient` shares: the cluster session,
the upload/instance-type options, and applying an entity through the CLI's convert/upload/apply path.

Errors: the CLI's one-line :class:`click.ClickException` messages become :class:`MlEndpointsError`
(an azure-core ``HttpResponseError``, which is what azure-ai-ml raises), a missing resource
``ResourceNotFoundError``, an unsupported entity class ``TypeError`` (:class:`UnsupportedEntity`).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import click
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from mlendpoints.azcli import cluster, manifests, verbs
from mlendpoints.azcli.cluster import Session
from mlendpoints.clients import resources
from mlendpoints.clients.resources import Kind
from mlendpoints.sdk import entities, readback
from mlendpoints.sdk.poller import Poller, Probe, poller, probe_of

log = logging.getLogger("mlendpoints.sdk")
KINDS: dict[str, Kind] = {
    "OnlineEndpoint": resources.ONLINE_ENDPOINT,
    "OnlineDeployment": resources.ONLINE_DEPLOYMENT,
    "BatchEndpoint": resources.BATCH_ENDPOINT,
    "BatchDeployment": resources.BATCH_DEPLOYMENT,
}


class MlEndpointsError(HttpResponseError):
    """A cluster, conversion or upload error, with the CLI's one-line message."""


class MlEndpointsWarning(UserWarning):
    """An Azure field with no counterpart (ignored), with the same text as the CLI's ``warning:`` lines."""


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Re-raise the CLI's :class:`click.ClickException` as :class:`MlEndpointsError`."""
    try:
        yield
    except click.ClickException as exc:
        raise MlEndpointsError(message=exc.format_message()) from exc


@dataclass
class Workspace:
    """The cluster side of an MLClient: where (kubeconfig, namespace) and how local folders go up."""

    namespace: str | None
    kubeconfig: str | None
    store: manifests.StoreOptions
    _session: Session | None = field(default=None, repr=False)

    def session(self) -> Session:
        """The connected session (connected on first use).

        Raises:
            MlEndpointsError: no kubeconfig, or the cluster does not answer.
        """
        if self._session is None:
            with translated():
                self._session = cluster.connect(self.namespace, self.kubeconfig)
        return self._session

    def read(self, kind: str, name: str) -> dict[str, Any]:
        """Our resource ``kind``/``name``.

        Raises:
            ResourceNotFoundError: there is none in the namespace.
        """
        with translated():
            obj = self.session().get(KINDS[kind], name)
        if obj is None:
            raise ResourceNotFoundError(
                message=f"{kind} {name} not found in namespace {self.session().namespace}"
            )
        return obj

    def list(self, kind: str) -> list[dict[str, Any]]:
        with translated():
            return self.session().list(KINDS[kind])

    def apply(self, entity: Any, expected: str | None = None) -> Poller[Any]:
        """Convert an azure-ai-ml entity as ``create -f`` converts its YAML, upload its local folders,
        apply it (server-side apply, field manager ``mlendpoints-cli``); returns a Ready poller.

        Args:
            expected: the kind the operation group takes (None: any, for ``MLClient.begin_create_or_update``).

        Raises:
            UnsupportedEntity: not an endpoint or deployment entity, or not of the ``expected`` kind.
            MlEndpointsError: a field that cannot be converted, a failed upload, a rejected apply.
        """
        kind = entities.kind_of(entity)
        if expected is not None and kind != expected:
            raise entities.UnsupportedEntity(
                f"{type(entity).__name__} {getattr(entity, 'name', '')}: this operation takes a {expected}"
            )
        doc = entities.to_doc(entity)
        with translated():
            session = self.session()
            store = manifests.default_store(session, self.store)
            result = manifests.convert_docs([doc], session.namespace, store, session)
            for warning in result.warnings:
                warnings.warn(warning, MlEndpointsWarning, stacklevel=3)  # the caller of the operation
            mine = [o for o in result.objects if o["kind"] == kind]
            verbs.check_existing(session, KINDS[kind], mine, None)
            manifests.apply_objects(session, result.objects, result, store, echo=log.info)
        return self.ready_poller(kind, mine[0]["metadata"]["name"])

    def ready_poller(self, kind: str, name: str) -> Poller[Any]:
        """A poller that waits until ``kind``/``name`` is Ready and returns it as an entity."""

        def probe() -> Probe[Any]:
            with translated():
                obj = self.session().get(KINDS[kind], name)
            return probe_of(obj, lambda o: readback.resource(kind, o))

        return poller(probe, f"{kind} {name}")

    def delete(self, kind: str, name: str) -> Poller[None]:
        """Delete ``kind``/``name``; the poller is done when it is gone.

        Raises:
            ResourceNotFoundError: there is none.
        """
        self.read(kind, name)
        with translated():
            self.session().delete(KINDS[kind], name)

        def probe() -> Probe[None]:
            with translated():
                gone = self.session().get(KINDS[kind], name) is None
            return Probe("Succeeded" if gone else "InProgress")

        return poller(probe, f"delete {kind} {name}")
