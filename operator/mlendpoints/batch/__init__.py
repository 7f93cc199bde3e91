"""The batch runner: scores a BatchJob's inputs in mini-batches with Azure ML's batch semantics.

Independent of the operator (like :mod:`mlendpoints.runtime`, whose script and MLflow loaders it
reuses): it runs in the pods of a BatchJob's Indexed Job, and locally through
``mlendpoints batch run``. Modules:

``contract``  environment variables (the operator's renderer sets them) and exit codes
``config``    :class:`~.config.RunConfig`: settings from those variables or from a deployment
``files``     fsspec locations: deterministic listing, atomic writes, downloads
``plan``      mini-batches and each Job index's share of them
``worker``    one worker process: ``init()`` once, ``run(mini_batch)`` per mini-batch
``pool``      the worker processes: dispatch, timeouts (kill and replace), crashes
``state``     finished mini-batches, recorded atomically in the output (resume) and the logs
``runner``    one index's run: schedule, retry, errorThreshold, assemble the outputs
"""
