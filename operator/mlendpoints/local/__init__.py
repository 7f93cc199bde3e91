"""Local endpoints without a cluster: ``mlendpoints local up|down|list|show`` and the ``--local`` verbs.

An endpoint's deployments each run the scoring runtime (``mlendpoints serve``) as a local process
on a loopback port; a small front (an HTTP reverse proxy on one port) applies the endpoint's
traffic weights, the ``azureml-model-deployment`` pin, mirror traffic and keys. Nothing here
needs Docker, Go or a cluster.

- :mod:`.plan`: ``-f`` files (our manifests or Azure ML CLI v2 YAML, through
  :mod:`mlendpoints.convert`) -> what to run: folders, environment, traffic;
- :mod:`.state`: the state folder (keys, logs, ``endpoint.json`` with ports, pids and URLs);
- :mod:`.procs`: starting, health-checking and stopping the processes;
- :mod:`.front`: the front (an ASGI app run by uvicorn, forwarding with httpx);
- :mod:`.cli`: the click group ``mlendpoints local``.
"""
