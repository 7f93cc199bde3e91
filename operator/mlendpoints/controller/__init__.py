"""The kopf operator: watch streams feed an in-memory store and a work queue of reconciles.

kopf gives us watching, the liveness probe and peering. We deliberately use only its raw
``on.event`` handlers, not its create/update/resume machinery, so kopf never writes its own
bookkeeping (annotations, finalizers, ``status.kopf``) onto users' objects: nothing shows as
GitOps drift, and a restart performs zero writes. Reconciles are level-triggered and idempotent.
"""
