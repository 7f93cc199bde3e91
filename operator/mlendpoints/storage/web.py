"""http(s) downloads with the standard library: one file, an archive, or a folder listing.

* A URL to a file is streamed to ``<dest>/<file name>`` (through a ``.part`` file, renamed when
  complete); an archive (``.tar.gz``, ``.tgz``, ``.tar``, ``.zip``) is then extracted.
* A URL ending in ``/`` is a folder. HTTP has no standard listing, so the folder's index page
  (nginx ``autoindex``, Apache, ``python -m http.server``) is read and every file it links below
  the URL is downloaded, recursing into linked sub-folders. An index that links no file is an
  error naming the URL: point ``model.path`` at a file or an archive instead.

``MLENDPOINTS_HTTP_AUTHORIZATION`` (e.g. from the credentials Secret) is sent as the
``Authorization`` header, to the URL's own host only (never along a redirect). Pre-signed URLs
(S3, Azure SAS) need nothing else.
"""

from __future__ import annotations

import os
import posixpath
import urllib.error
import urllib.request
from html.parser import HTMLParser
from http.client import HTTPResponse
from pathlib import Path
from typing import cast
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from mlendpoints.storage import archives
from mlendpoints.storage.errors import FetchError

AUTH_ENV = "MLENDPOINTS_HTTP_AUTHORIZATION"
#: Seconds a connect or a read may block before the download fails (kubelet then retries the pod).
TIMEOUT = 60.0
CHUNK = 1 << 20
#: Guards against crawling a page that is not a folder index.
MAX_FILES = 10_000
MAX_DEPTH = 16


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.hrefs += [v for k, v in attrs if k == "href" and v]


def _open(url: str, *, origin: str) -> HTTPResponse:
    request = urllib.request.Request(url, headers={"User-Agent": "mlendpoints-fetch"})  # noqa: S310
    token = os.environ.get(AUTH_ENV)
    if token and urlsplit(url).netloc == origin:
        request.add_unredirected_header("Authorization", token)
    try:
        return cast(HTTPResponse, urllib.request.urlopen(request, timeout=TIMEOUT))  # noqa: S310 -- scheme checked by fetch()
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"{url}: {reason}") from exc


def _download(url: str, target: Path, *, origin: str) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    size = 0
    with _open(url, origin=origin) as response, part.open("wb") as out:
        try:
            while chunk := response.read(CHUNK):
                out.write(chunk)
                size += len(chunk)
        except OSError as exc:
            raise FetchError(f"{url}: download interrupted after {size} bytes: {exc}") from exc
    part.replace(target)
    return size


def _safe_relative(base: str, url: str) -> str | None:
    """The path of ``url`` below ``base`` (a folder URL), or None when it is not below it."""
    if not url.startswith(base) or url == base or urlsplit(url).query:
        return None
    rel = unquote(url[len(base) :])
    parts = [p for p in rel.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        return None
    return "/".join(parts) + ("/" if rel.endswith("/") else "")


def _folder(url: str, dest: Path, *, origin: str, depth: int, count: list[int]) -> None:
    if depth > MAX_DEPTH:
        raise FetchError(f"{url}: folder listing nested deeper than {MAX_DEPTH} levels")
    with _open(url, origin=origin) as response:
        kind = response.headers.get_content_type()
        page = response.read().decode(response.headers.get_content_charset() or "utf-8", "replace")
    if kind != "text/html":
        raise FetchError(f"{url}: a URL ending in '/' must serve an HTML folder listing (got {kind})")
    parser = _Links()
    parser.feed(page)
    for href in dict.fromkeys(parser.hrefs):
        target = urldefrag(urljoin(url, href)).url
        rel = _safe_relative(url, target)
        if rel is None:
            continue
        if rel.endswith("/"):
            _folder(target, dest / rel.rstrip("/"), origin=origin, depth=depth + 1, count=count)
            continue
        count[0] += 1
        if count[0] > MAX_FILES:
            raise FetchError(f"{url}: folder listing links more than {MAX_FILES} files")
        _download(target, dest / rel, origin=origin)


def fetch(url: str, dest: Path) -> None:
    """Download ``url`` (a file, an archive, or a folder URL ending in ``/``) into ``dest``.

    Raises:
        FetchError: HTTP error, network failure, or a folder listing without files.
    """
    origin = urlsplit(url).netloc
    dest.mkdir(parents=True, exist_ok=True)
    path = urlsplit(url).path
    if path.endswith("/") or not path:
        count = [0]
        _folder(url if path else url + "/", dest, origin=origin, depth=0, count=count)
        if count[0] == 0:
            raise FetchError(
                f"{url}: the folder listing links no files; point at a file or an archive instead"
            )
        return
    name = posixpath.basename(unquote(path))
    target = dest / name
    _download(url, target, origin=origin)
    if archives.is_archive(name):
        archives.extract(target, dest)
