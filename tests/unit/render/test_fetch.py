"""The storage initializer (mlendpoints.storage), for real: local paths and HTTP on 127.0.0.1.

Lives with the renderer tests because it is the other half of the model-volume contract: the
init container command rendered in render.sources is exactly ``mlendpoints fetch --uri --dest``.
"""

from __future__ import annotations

import importlib.util
import io
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mlendpoints.storage import cli
from mlendpoints.storage.errors import FetchError
from mlendpoints.storage.fetch import fetch

pytestmark = pytest.mark.timeout(60)


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): p.read_text() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    src = tmp_path / "src" / "model"
    (src / "sub dir").mkdir(parents=True)
    (src / "MLmodel").write_text("flavors: {}\n")
    (src / "model.pkl").write_text("weights")
    (src / "sub dir" / "extra.txt").write_text("x")
    return src


class _Handler(SimpleHTTPRequestHandler):
    seen_auth: list[str | None] = []

    def do_GET(self) -> None:
        _Handler.seen_auth.append(self.headers.get("Authorization"))
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path, model_dir: Path) -> Iterator[str]:
    _Handler.seen_auth = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(model_dir.parent)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_local_folder(tmp_path: Path, model_dir: Path) -> None:
    fetch(str(model_dir), tmp_path / "dest")
    assert _tree(tmp_path / "dest") == _tree(model_dir)


def test_file_uri_folder_into_existing_dest(tmp_path: Path, model_dir: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()  # an emptyDir already exists when the init container starts
    fetch(f"file://{model_dir}/", dest)
    assert _tree(dest) == _tree(model_dir)


def test_local_single_file(tmp_path: Path, model_dir: Path) -> None:
    fetch(f"file://{model_dir}/model.pkl", tmp_path / "dest")
    assert _tree(tmp_path / "dest") == {"model.pkl": "weights"}


def test_local_archives_are_extracted(tmp_path: Path, model_dir: Path) -> None:
    tgz = tmp_path / "model.tar.gz"
    with tarfile.open(tgz, "w:gz") as tf:
        tf.add(model_dir, arcname=".")
    fetch(str(tgz), tmp_path / "a")
    assert _tree(tmp_path / "a") == _tree(model_dir)
    zipped = tmp_path / "model.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for p in model_dir.rglob("*"):
            if p.is_file():
                zf.write(p, str(p.relative_to(model_dir)))
    fetch(str(zipped), tmp_path / "b")
    assert _tree(tmp_path / "b") == _tree(model_dir)


def test_archive_member_outside_dest_is_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.tar"
    with tarfile.open(evil, "w") as tf:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tf.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(FetchError, match=r"evil\.tar"):
        fetch(str(evil), tmp_path / "dest")
    assert not (tmp_path / "escaped.txt").exists()


def test_missing_local_path(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="not found"):
        fetch(str(tmp_path / "nope"), tmp_path / "dest")


def test_http_single_file(tmp_path: Path, server: str) -> None:
    fetch(f"{server}/model/model.pkl", tmp_path / "dest")
    assert _tree(tmp_path / "dest") == {"model.pkl": "weights"}


def test_http_folder_listing_is_crawled(tmp_path: Path, server: str, model_dir: Path) -> None:
    fetch(f"{server}/model/", tmp_path / "dest")
    assert _tree(tmp_path / "dest") == _tree(model_dir)


def test_http_archive_is_extracted(tmp_path: Path, server: str, model_dir: Path) -> None:
    with tarfile.open(model_dir / "bundle.tgz", "w:gz") as tf:
        tf.add(model_dir / "MLmodel", arcname="MLmodel")
    fetch(f"{server}/model/bundle.tgz", tmp_path / "dest")
    assert _tree(tmp_path / "dest") == {"MLmodel": "flavors: {}\n"}


def test_http_error_is_one_line_with_the_status(tmp_path: Path, server: str) -> None:
    with pytest.raises(FetchError) as err:
        fetch(f"{server}/model/missing.pkl", tmp_path / "dest")
    assert "HTTP 404" in str(err.value)
    assert "\n" not in str(err.value)


def test_http_empty_folder_listing_is_an_error(tmp_path: Path, server: str, model_dir: Path) -> None:
    (model_dir / "empty").mkdir()
    with pytest.raises(FetchError, match="links no files"):
        fetch(f"{server}/model/empty/", tmp_path / "dest")


def test_http_connection_refused(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match=r"127\.0\.0\.1:9"):
        fetch("http://127.0.0.1:9/model.pkl", tmp_path / "dest")


def test_http_authorization_from_the_environment(
    tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLENDPOINTS_HTTP_AUTHORIZATION", "Bearer s3cret")
    fetch(f"{server}/model/model.pkl", tmp_path / "dest")
    assert _Handler.seen_auth == ["Bearer s3cret"]


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        ("pvc://claim/x", "mounted by the operator"),
        ("oci://ghcr.io/acme/m:1", "mounted by the operator"),
        ("azureml:m:1", "target azureml"),
        ("ftp://host/x", "unsupported scheme ftp"),
    ],
)
def test_refused_uris(tmp_path: Path, uri: str, match: str) -> None:
    with pytest.raises(FetchError, match=match):
        fetch(uri, tmp_path / "dest")


@pytest.mark.parametrize(
    ("uri", "package"),
    [
        ("s3://bucket/m/", "s3fs"),
        ("gs://bucket/m/", "gcsfs"),
        ("abfss://c@acct.dfs.core.windows.net/m", "adlfs"),
    ],
)
def test_missing_plugin_names_the_package(tmp_path: Path, uri: str, package: str) -> None:
    if importlib.util.find_spec(package) is not None:
        pytest.skip(f"{package} is installed")
    with pytest.raises(FetchError, match=f"pip install {package}"):
        fetch(uri, tmp_path / "dest")


def test_cli_success_and_failure(tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--uri", str(model_dir), "--dest", str(tmp_path / "ok")]) == 0
    assert "3 files" in capsys.readouterr().err
    assert cli.main(["--uri", "ftp://x/y", "--dest", str(tmp_path / "ko")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mlendpoints fetch: ftp://x/y: unsupported scheme")
    assert err.count("\n") == 1
