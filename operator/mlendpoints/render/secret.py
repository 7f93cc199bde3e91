"""The endpoint's keys Secret (authMode key): ``primaryKey`` and ``secondaryKey``.

The reconciler generates the keys once (and on an explicit regeneration) and passes them in;
rendering never creates randomness, so the same inputs always give the same objects. The
scoring pods mount this Secret read-only at ``MLENDPOINTS_AUTH_KEY_DIR``; either key is accepted,
so keys can be rotated one at a time without downtime.
"""

from __future__ import annotations

from mlendpoints.api.v1alpha1.online import OnlineEndpoint
from mlendpoints.render import labels, meta, names
from mlendpoints.render.types import Obj


def build(endpoint: OnlineEndpoint, *, keys: tuple[str, str]) -> Obj:
    ep_name, _, uid = meta.identity(endpoint)
    name = names.keys_secret(ep_name)
    std = labels.standard(instance=name, component=labels.COMPONENT_ENDPOINT, endpoint=ep_name, owner_uid=uid)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta.object_meta(name, owner=endpoint, labels=std),
        "type": "Opaque",
        "stringData": {"primaryKey": keys[0], "secondaryKey": keys[1]},
    }
