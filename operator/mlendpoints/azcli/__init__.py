"""The ``az ml``-style verbs of the ``mlendpoints`` CLI (click groups, imported lazily by :mod:`mlendpoints.cli`).

- :mod:`.online`: ``online-endpoint`` and ``online-deployment`` (create, update, show, list,
  delete, invoke, get-credentials, regenerate-keys, get-logs), with :mod:`.ops` for keys, invoke
  and pod logs;
- :mod:`.batchverbs`: ``batch-endpoint`` and ``batch-deployment`` (jobs through :mod:`mlendpoints.batchctl`);
- :mod:`.convertcmd`: ``convert`` (Azure ML CLI v2 YAML -> manifests);
- :mod:`.verbs`: what the verbs share (options, create/update from ``-f``, delete, tables);
- :mod:`.cluster`: the cluster connection (kubeconfig, namespace, apply, wait, one-line errors);
- :mod:`.manifests`: reading ``-f`` files (our manifests or Azure YAML) and uploading local folders.
"""
