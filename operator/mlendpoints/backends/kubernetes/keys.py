"""An OnlineEndpoint's keys: generated once, kept in its keys Secret, rotated on request.

The rotation request is the annotation ``mlendpoints.io/regenerate-keys: primary|secondary|both``
(optionally ``@<anything>``) on the endpoint; the Secret remembers the last value handled, so a
rotation happens once per distinct value and the user's object is never written to
(docs/online-endpoints.md, "Keys").
"""

from __future__ import annotations

import base64
import secrets

from mlendpoints.api.v1alpha1 import OnlineEndpoint
from mlendpoints.backends.kubernetes.context import Context
from mlendpoints.clients.store import Body
from mlendpoints.render import names
from mlendpoints.status import reasons

REGENERATE_ANNOTATION = "mlendpoints.io/regenerate-keys"
HANDLED_ANNOTATION = "mlendpoints.io/regenerate-keys-handled"


def new_key() -> str:
    """A new key: 32 random bytes, URL-safe base64 (43 characters)."""
    return secrets.token_urlsafe(32)


async def endpoint_keys(
    ctx: Context, endpoint: OnlineEndpoint, body: Body, secret: Body | None
) -> tuple[tuple[str, str] | None, dict[str, str]]:
    """Existing keys, generated once; rotated when the regenerate annotation carries a new value.

    ``secret`` is the keys Secret as read now (None: absent). The annotation value is ``primary``,
    ``secondary`` or ``both``, optionally ``@<anything>``; the Secret remembers the last value
    handled, so a rotation happens once per distinct value and the user's object is never written to.
    """
    if endpoint.spec.auth_mode != "key":
        return None, {}
    name = body["metadata"]["name"]
    data = {}
    if secret is None and (body.get("status") or {}).get("keysSecretName"):
        await ctx.event(
            body,
            type="Warning",
            reason=reasons.KEYS_REGENERATED,
            message=f"keys Secret {names.keys_secret(name)!r} was deleted: new primary and secondary keys "
            "were generated; clients must use the new keys",
        )
    if secret is not None:
        data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
    primary, secondary = data.get("primaryKey") or new_key(), data.get("secondaryKey") or new_key()
    request = (body["metadata"].get("annotations") or {}).get(REGENERATE_ANNOTATION, "")
    handled = ((secret or {}).get("metadata", {}).get("annotations") or {}).get(HANDLED_ANNOTATION, "")
    annotations = {HANDLED_ANNOTATION: handled} if handled else {}
    if request and request != handled:
        which = request.split("@", 1)[0].strip().lower()
        if which in ("primary", "both"):
            primary = new_key()
        if which in ("secondary", "both"):
            secondary = new_key()
        if which in ("primary", "secondary", "both"):
            annotations = {HANDLED_ANNOTATION: request}
            await ctx.event(
                body, type="Normal", reason=reasons.KEYS_REGENERATED, message=f"regenerated {which} key(s)"
            )
        else:
            await ctx.event(
                body,
                type="Warning",
                reason="InvalidAnnotation",
                message=f"{REGENERATE_ANNOTATION} must be primary, secondary or both (optionally @suffix), got {request!r}",
            )
            annotations = {HANDLED_ANNOTATION: request}
    return (primary, secondary), annotations
