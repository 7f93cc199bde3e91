"""The storage initializer: ``mlendpoints fetch`` downloads a model or code URI into a folder.

It runs as the ``storage-initializer`` (and ``code-initializer``) init container of scoring pods,
from the runtime image (see :mod:`mlendpoints.render.sources`), and locally in tests and demos.
"""
