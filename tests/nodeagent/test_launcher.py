"""Node-agent pieces that need no cluster: the atomic volume layout, env resolution, the launcher.

The launcher test creates a real network namespace (root only) and checks that mounts at paths
that do not exist on the host appear in the container and never on the host.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from mlendpoints_dev.nodeagent import network
from mlendpoints_dev.nodeagent.fields import ConfigError, container_env, expand
from mlendpoints_dev.nodeagent.volumes import write_atomic


def test_atomic_layout_swaps_data_and_drops_removed_keys(tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    assert write_atomic(vol, {"a": (b"1", 0o644), "b": (b"2", 0o600)})
    first = os.readlink(vol / "..data")
    assert os.readlink(vol / "a") == "..data/a"
    assert (vol / "a").read_text() == "1"
    assert ((vol / "b").stat().st_mode & 0o777) == 0o600
    assert not write_atomic(vol, {"a": (b"1", 0o644), "b": (b"2", 0o600)})  # unchanged: no new version
    assert write_atomic(vol, {"a": (b"9", 0o644)})
    assert os.readlink(vol / "..data") != first
    assert (vol / "a").read_text() == "9"
    assert not (vol / "b").exists()
    assert not (vol / first).exists()  # the old version is gone


def test_env_order_refs_and_missing_keys() -> None:
    objs = {
        ("configmaps", "ns", "cm"): {"kind": "ConfigMap", "data": {"A": "from-cm", "B": "b"}},
        ("secrets", "ns", "s"): {"kind": "Secret", "data": {"pw": "aHVudGVyMg=="}},
    }
    pod = {"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "x"}}, "spec": {"nodeName": "n"}}
    container = {
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "cm"}, "prefix": "CM_"}],
        "env": [
            {"name": "A", "value": "$(CM_A)-$(MISSING)-$$(CM_A)"},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pw"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}},
        ],
    }
    env = container_env(pod, container, lambda k, ns, n: objs.get((k, ns, n)), {"PATH": "/bin"})
    assert env == {"PATH": "/bin", "CM_A": "from-cm", "CM_B": "b", "A": "from-cm-$(MISSING)-$(CM_A)",
                   "PW": "hunter2", "APP": "x"}  # fmt: skip
    container["env"] = [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "nokey"}}}]
    with pytest.raises(ConfigError, match="couldn't find key nokey"):
        container_env(pod, container, lambda k, ns, n: objs.get((k, ns, n)), {})
    assert expand("$(A)$(B)", {"A": "1"}) == "1$(B)"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and mounts")
def test_launcher_mounts_inside_only(tmp_path: Path) -> None:
    ns = f"mlp-00000-{uuid.uuid4().hex[:8]}"
    network.ip("netns", "add", ns)
    vol = tmp_path / "vol"
    vol.mkdir()
    (vol / "key").write_text("hello")
    missing = f"/var/mlendpoints-test-{uuid.uuid4().hex[:6]}"
    spec = {
        "netns": f"/run/netns/{ns}",
        "root": str(tmp_path / "root"),
        "hostname": "podname",
        "mounts": [{"src": str(vol), "dst": f"{missing}/keys", "ro": True}],
        "env": {"PATH": "/usr/bin:/bin"},
        "cwd": missing,
        "uid": None,
        "gid": None,
        "argv": [
            "sh",
            "-c",
            "pwd; hostname; cat keys/key; echo; touch keys/x 2>/dev/null || echo ro; ip -o link | wc -l",
        ],
        "error_file": str(tmp_path / "err"),
    }
    (tmp_path / "root").mkdir()
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    try:
        out = subprocess.run(
            [sys.executable, "-m", "mlendpoints_dev.nodeagent.launch", str(tmp_path / "spec.json")],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout.split()  # fmt: skip
    finally:
        network.ip("netns", "del", ns)
    assert out == [missing, "podname", "hello", "ro", "1"]  # only lo in a fresh namespace
    assert not Path(missing).exists()
    assert list((tmp_path / "root").iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and mounts")
def test_launcher_reports_a_missing_command(tmp_path: Path) -> None:
    ns = f"mlp-00000-{uuid.uuid4().hex[:8]}"
    network.ip("netns", "add", ns)
    (tmp_path / "root").mkdir()
    spec = {"netns": f"/run/netns/{ns}", "root": str(tmp_path / "root"), "mounts": [], "env": {"PATH": "/bin"},
            "cwd": "/", "argv": ["no-such-binary"], "error_file": str(tmp_path / "err")}  # fmt: skip
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mlendpoints_dev.nodeagent.launch", str(tmp_path / "spec.json")],
            capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
    finally:
        network.ip("netns", "del", ns)
    assert proc.returncode == 128
    assert "no-such-binary" in (tmp_path / "err").read_text()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces, mounts and setuid")
def test_launcher_runs_as_the_user_and_exposes_only_the_paths_it_needs(tmp_path: Path) -> None:
    """runAsUser 1000 reaches a program under a mode-700 directory (like Python under /root/.pyenv)
    through the exposed path, and nothing else that directory holds."""
    ns = f"mlp-00000-{uuid.uuid4().hex[:8]}"
    network.ip("netns", "add", ns)
    tmp_path.chmod(0o755)
    home = tmp_path / "home"  # plays root's home: only root may search it
    (home / "env" / "bin").mkdir(parents=True)
    (home / "secret").write_text("not for uid 1000")
    tool = home / "env" / "bin" / "whoami.sh"
    tool.write_text(
        "#!/bin/sh\nid -u; id -g; ls -A " + str(home) + "; cat " + str(home / "secret") + " || echo denied\n"
    )
    tool.chmod(0o755)
    home.chmod(0o700)
    (tmp_path / "root").mkdir()
    spec = {"netns": f"/run/netns/{ns}", "root": str(tmp_path / "root"), "mounts": [],
            "env": {"PATH": "/usr/bin:/bin"}, "cwd": "/", "uid": 1000, "gid": 1000, "groups": [],
            "expose": [str(home / "env")], "argv": [str(tool)], "error_file": str(tmp_path / "err")}  # fmt: skip
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mlendpoints_dev.nodeagent.launch", str(tmp_path / "spec.json")],
            capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
    finally:
        network.ip("netns", "del", ns)
    assert proc.returncode == 0, proc.stderr + (tmp_path / "err").read_text()
    assert proc.stdout.split() == ["1000", "1000", "env", "denied"]
    assert (home.stat().st_mode & 0o777) == 0o700  # the host's directory is unchanged


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for namespaces and mounts")
def test_a_writable_volume_above_the_environment_does_not_hide_it(tmp_path: Path) -> None:
    """An emptyDir at /tmp-like ``top`` over a checkout under it (``top/checkout/env``): the kept
    path is bound back inside the volume, the volume stays writable and the host's volume folder
    gets only the empty directories."""
    ns = f"mlp-00000-{uuid.uuid4().hex[:8]}"
    network.ip("netns", "add", ns)
    top = tmp_path / "top"
    env = top / "checkout" / "env"
    (env / "bin").mkdir(parents=True)
    (top / "checkout" / "other").write_text("host file next to the environment")
    tool = env / "bin" / "tool.sh"
    tool.write_text("#!/bin/sh\necho ran; echo scratch > " + str(top / "mine") + "; ls -A " + str(top) + "\n")
    tool.chmod(0o755)
    empty_dir = tmp_path / "emptydir"
    empty_dir.mkdir()
    (tmp_path / "root").mkdir()
    spec = {"netns": f"/run/netns/{ns}", "root": str(tmp_path / "root"),
            "mounts": [{"src": str(empty_dir), "dst": str(top), "ro": False}],
            "env": {"PATH": "/usr/bin:/bin"}, "cwd": "/", "uid": None, "gid": None,
            "keep": [str(env)], "argv": [str(tool)], "error_file": str(tmp_path / "err")}  # fmt: skip
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mlendpoints_dev.nodeagent.launch", str(tmp_path / "spec.json")],
            capture_output=True, text=True, check=False, timeout=30,
        )  # fmt: skip
    finally:
        network.ip("netns", "del", ns)
    assert proc.returncode == 0, proc.stderr + (tmp_path / "err").read_text()
    assert proc.stdout.split() == ["ran", "checkout", "mine"]  # the volume's view, not the host's
    assert (empty_dir / "mine").read_text() == "scratch\n"
    assert sorted(p.name for p in (empty_dir / "checkout").iterdir()) == ["env"]
    assert list((empty_dir / "checkout" / "env").iterdir()) == []  # only a mount point
    assert not (top / "mine").exists()
