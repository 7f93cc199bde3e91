"""Renderer tests: typed models in, plain Kubernetes dicts out; asserted as dicts.

Inputs are built with ``builders.endpoint`` and ``builders.deployment`` (validated through the same pydantic
models the operator uses, with a namespace and uid as the API server would set them). Outputs are
the lists of dicts the reconciler would apply. No cluster, no client, no network -- except the
storage initializer tests, which talk to an HTTP server on 127.0.0.1 that they start themselves.
"""
