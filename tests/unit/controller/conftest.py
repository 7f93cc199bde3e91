"""Fast reconciler tests: the real Manager, watch table, Store and reconcilers against an in-memory API.

Inputs: objects put into :class:`tests.unit.controller.fakekube.FakeKube` (the API server's
state) and fed to ``Manager.observe`` as watch events, as kopf would. Outputs: the objects the
reconcilers leave in the fake API and the writes they count (``kube.writes``). Only our own client
wrapper (``clients.kube.Kube``) is replaced; the reconcile core runs as in production. The
real-control-plane versions of these scenarios are in tests/integration.
"""
