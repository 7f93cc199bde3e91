"""Endpoint keys: ``Authorization: Bearer <key>`` checked against a mounted Secret, with rotation.

The endpoint's Secret is mounted as a folder holding ``primaryKey`` and ``secondaryKey``. Kubernetes
updates such a mount by swapping a ``..data`` symlink, so a changed key shows up as new file
content behind the same path. :class:`KeyStore` re-reads both files at most once per
``check_interval_s`` (lazily, on the request path: two small reads per second at most, never one per
request), so keys rotate without a restart: clients move to the secondary key, the primary is
regenerated, and both keep working throughout.

Keys are kept only as SHA-256 digests and compared with :func:`hmac.compare_digest` against both
slots every time, so the comparison takes the same time whatever the key and whichever slot
matches. If the folder is configured but holds no key, every request is refused (fail closed).
Keys never reach a log line.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from collections.abc import Callable

from mlendpoints.api import contract

log = logging.getLogger("mlendpoints.runtime.auth")

KEY_FILES = contract.KEY_FILES
_NO_KEY = b"\x00" * 32  # digest that no presented key can match (sha256 output is never all-zero)


class KeyStore:
    """Validates bearer tokens against the key files in ``key_dir`` (``None`` = auth off)."""

    def __init__(
        self,
        key_dir: str | None,
        *,
        check_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key_dir = key_dir or None
        self.check_interval_s = check_interval_s
        self._clock = clock
        self._digests: tuple[bytes, bytes] = (_NO_KEY, _NO_KEY)
        self._contents: tuple[bytes, bytes] | None = None
        self._next_check = 0.0
        #: how many times a changed key set was loaded (for metrics and tests)
        self.reloads = 0
        if self.key_dir is not None:
            self.refresh(force=True)

    @property
    def enabled(self) -> bool:
        return self.key_dir is not None

    def refresh(self, *, force: bool = False) -> None:
        """Re-read the key files if the check interval has passed (or ``force``)."""
        if self.key_dir is None:
            return
        now = self._clock()
        if not force and now < self._next_check:
            return
        self._next_check = now + self.check_interval_s
        contents = (self._read(KEY_FILES[0]), self._read(KEY_FILES[1]))
        if contents == self._contents:
            return
        self._contents = contents
        self._digests = (
            hashlib.sha256(contents[0]).digest() if contents[0] else _NO_KEY,
            hashlib.sha256(contents[1]).digest() if contents[1] else _NO_KEY,
        )
        self.reloads += 1
        present = [name for name, value in zip(KEY_FILES, contents, strict=True) if value]
        if present:
            log.info("auth keys loaded", extra={"key_dir": self.key_dir, "keys": present})
        else:
            log.warning(
                "auth is on but no key file is readable; every request will get 401",
                extra={"key_dir": self.key_dir, "expected": list(KEY_FILES)},
            )

    def _read(self, name: str) -> bytes:
        assert self.key_dir is not None
        try:
            with open(os.path.join(self.key_dir, name), "rb") as handle:
                return handle.read(4096).strip()
        except OSError:
            return b""

    def check(self, authorization: bytes | None) -> bool:
        """True when auth is off or ``authorization`` is ``Bearer <a current key>``."""
        if self.key_dir is None:
            return True
        self.refresh()
        if not authorization:
            return False
        scheme, _, token = authorization.strip().partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        presented = hashlib.sha256(token.strip()).digest()
        # Both comparisons always run (no short circuit), so timing does not tell which slot matched.
        primary = hmac.compare_digest(presented, self._digests[0])
        secondary = hmac.compare_digest(presented, self._digests[1])
        return primary | secondary
