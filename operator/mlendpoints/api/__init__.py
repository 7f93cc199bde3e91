"""The mlendpoints API: pydantic models per version, the single source of truth for the CRDs.

``crdgen`` turns these models into ``crds/*.yaml``; the operator validates the bodies it receives
with the same models, so ``kubectl explain``, the API server's validation and the operator agree.
"""
