"""The ``az ml``-style verbs of the ``mlendpoints`` CLI (click groups, imported lazily by :mod:`mlendpoints.cli`).

- :mod:`.online`: ``online-endpoint`` and ``online-deployment`` (create, update, show, list,
  delete, invoke, get-credentials, regenerate-keys, get-logs);
- :mod:`.convertcmd`: ``convert`` (Azure ML CLI v2 YAML -> manifests);
- :mod:`.cluster`: the cluster connection they share (kubeconfig, namespace, apply, wait);
- :mod:`.manifests`: reading ``-f`` files (our manifests or Azure YAML) and uploading local folders.
"""
