"""Endpoint keys from a mounted Secret: bearer checks, rotation without restart, nothing in logs."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from mlendpoints.runtime.auth import KeyStore
from tests.runtime.conftest import wait_until

pytestmark = pytest.mark.timeout(120)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def mount_secret(folder: Path, primary: str, secondary: str, version: int) -> None:
    """Write keys the way the kubelet updates a Secret volume: a new data folder + ``..data`` swap."""
    data = folder / f"..2026_11_21_v{version}"
    data.mkdir()
    (data / "primaryKey").write_text(primary)
    (data / "secondaryKey").write_text(secondary)
    tmp_link = folder / "..data_tmp"
    tmp_link.symlink_to(data.name)
    os.replace(tmp_link, folder / "..data")
    for name in ("primaryKey", "secondaryKey"):
        if not (folder / name).is_symlink():
            (folder / name).symlink_to(f"..data/{name}")


def test_auth_off_accepts_anything():
    keys = KeyStore(None)
    assert not keys.enabled
    assert keys.check(None)
    assert keys.check(b"Bearer whatever")


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (b"Bearer primary-1", True),
        (b"Bearer secondary-1", True),
        (b"bearer primary-1", True),
        (b"Bearer  primary-1 ", True),
        (b"Bearer primary-2", False),
        (b"Basic primary-1", False),
        (b"primary-1", False),
        (b"Bearer ", False),
        (None, False),
        (b"", False),
    ],
)
def test_bearer_check(tmp_path, header, accepted):
    mount_secret(tmp_path, "primary-1", "secondary-1", 1)
    assert KeyStore(str(tmp_path)).check(header) is accepted


def test_rotation_through_the_mounted_files(tmp_path):
    clock = FakeClock()
    mount_secret(tmp_path, "p1", "s1", 1)
    keys = KeyStore(str(tmp_path), clock=clock)
    assert keys.check(b"Bearer p1")
    mount_secret(tmp_path, "p2", "s1", 2)  # primary regenerated; clients moved to the secondary
    assert keys.check(b"Bearer p1")  # not re-read within the check interval (no per-request reads)
    clock.now += 1.01
    assert not keys.check(b"Bearer p1")
    assert keys.check(b"Bearer p2")
    assert keys.check(b"Bearer s1")
    assert keys.reloads == 2


def test_no_key_readable_fails_closed(tmp_path, caplog):
    (tmp_path / "primaryKey").write_text("\n")
    with caplog.at_level(logging.WARNING):
        keys = KeyStore(str(tmp_path))
    assert not keys.check(b"Bearer ")
    assert not keys.check(b"Bearer \n")
    assert "no key file is readable" in caplog.text
    assert not KeyStore(str(tmp_path / "missing")).check(b"Bearer x")


def test_http_401_and_public_routes(make_client, tmp_path):
    mount_secret(tmp_path, "p1", "s1", 1)
    client = make_client(entry_script="score_control.py", auth_key_dir=str(tmp_path))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "p1"}):
        response = client.post("/score", json={"action": "echo"}, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert client.post("/score", json={}, headers={"Authorization": "Bearer s1"}).status_code == 200
    assert client.get("/swagger.json").status_code == 401
    assert client.get("/v2/models/model").status_code == 401
    assert client.post("/v2/models/model/infer", json={}).status_code == 401
    for public in (
        "/",
        "/readyz",
        "/metrics",
        "/v2/health/live",
        "/v2/health/ready",
        "/v2/models/model/ready",
    ):
        assert client.get(public).status_code == 200, public


def test_rotation_without_restart_over_http(make_server, tmp_path, caplog):
    mount_secret(tmp_path, "old-primary", "secondary", 1)
    server = make_server(entry_script="score_control.py", auth_key_dir=str(tmp_path))
    with caplog.at_level(logging.DEBUG), server.client() as http:

        def status(key: str) -> int:
            return http.post("/score", json={}, headers={"Authorization": f"Bearer {key}"}).status_code

        assert status("old-primary") == 200
        mount_secret(tmp_path, "new-primary", "secondary", 2)
        wait_until(lambda: status("new-primary") == 200, timeout=10, interval=0.1)
        assert status("old-primary") == 401
        assert status("secondary") == 200
    for secret in ("old-primary", "new-primary", "secondary"):
        assert secret not in caplog.text  # keys never reach the logs
