"""The container launcher: the first program of every container process (and exec probe).

``python -m mlendpoints_dev.nodeagent.launch SPEC.json`` joins the pod's network
namespace, enters a fresh mount and UTS namespace, builds the container's view of the file system
and finally ``exec``s the container's command, so the PID the agent holds *is* the container.

Mounts: the host's file system cannot be changed (other processes use it), so the launcher
builds a new root in its private mount namespace: a tmpfs whose top-level entries are recursive
bind mounts of the host's (``/usr``, ``/work``, ``/proc`` ...). Volume mounts are bind-mounted
on top at their ``mountPath``; a missing directory under a host directory is made by *shadowing*
that directory (a tmpfs holding bind mounts of its entries plus the new directory), so nothing
is created on the host. Then it ``chroot``s into the new root. Everything disappears with the
process; the host never sees a mount.

Spec (JSON): ``netns`` (path under /run/netns), ``root`` (an empty host directory for the new
root), ``hostname``, ``mounts`` ([{src, dst, ro, file}]), ``env`` ({}), ``cwd``, ``uid``/``gid``
(null: stay root), ``groups``, ``expose`` (host paths the user must reach, e.g. the Python
environment: see :meth:`RootBuilder.expose`), ``keep`` (host paths a volume must not hide: see
:meth:`RootBuilder.bind`), ``argv``, ``error_file`` (why the exec failed, read
by the agent).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x1, 0x20, 0x1000, 0x4000, 1 << 18

_libc = ctypes.CDLL(None, use_errno=True)


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def b(s: str | None) -> bytes | None:
        return None if s is None else s.encode()

    _check(_libc.mount(b(src), b(dst), b(fstype), ctypes.c_ulong(flags), b(data)), f"mount {src} {dst}")


def _bind_entry(src: str, dst: str) -> None:
    """Make ``dst`` a recursive bind mount of ``src`` (or a copy of ``src`` if it is a symlink)."""
    if os.path.islink(src):
        os.symlink(os.readlink(src), dst)
        return
    if os.path.isdir(src):
        os.mkdir(dst)
    else:
        Path(dst).touch()
    with contextlib.suppress(OSError):  # e.g. a socket we may not bind: leave the placeholder
        _mount(src, dst, None, MS_BIND | MS_REC)


def _replicate(src_dir: str, dst_dir: str) -> None:
    for name in os.listdir(src_dir):
        _bind_entry(os.path.join(src_dir, name), os.path.join(dst_dir, name))


def _searchable(directory: str, uid: int, gids: set[int]) -> bool:
    """Whether ``uid``/``gids`` may traverse the host's ``directory`` (mode bits; root always may)."""
    st = os.stat(directory)
    if uid == 0:
        return True
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid in gids:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


class RootBuilder:
    """Builds the container's root under ``root`` (see the module docstring)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._shadows = 0
        self._ours = {root}
        _mount("tmpfs", root, "tmpfs", 0, "mode=0755")
        _replicate("/", root)

    def _shadow(self, directory: str) -> None:
        self._shadows += 1
        scratch = os.path.join(self.root, f".mlshadow{self._shadows}")
        os.mkdir(scratch)
        _mount("tmpfs", scratch, "tmpfs", 0, "mode=0755")
        _replicate(directory, scratch)
        _mount(scratch, directory, None, MS_BIND | MS_REC)

    def ensure(self, path: str, *, file: bool) -> str:
        """The host path of ``path`` inside the new root, created (dir, or file when ``file``).

        Symlinks are resolved inside the new root (``/var/run -> /run`` leads to the root's
        ``run``, not the host's). Directories on our tmpfs (the root, shadows, what we made
        there) are written directly; a host directory is shadowed first, so the host never changes.
        """
        parts = [p for p in path.split("/") if p]
        cur = self.root
        hops = 0
        while parts:
            comp = parts.pop(0)
            nxt = os.path.join(cur, comp)
            if os.path.islink(nxt) and hops < 40:
                hops += 1
                target = os.readlink(nxt)
                parts = [p for p in target.split("/") if p] + parts
                if target.startswith("/"):
                    cur = self.root
                continue
            if comp == "..":
                cur = os.path.dirname(cur) if cur != self.root else cur
                continue
            if not os.path.lexists(nxt):
                if cur not in self._ours:
                    self._shadow(cur)
                    self._ours.add(cur)
                if not parts and file:
                    Path(nxt).touch()
                else:
                    os.mkdir(nxt)
                    self._ours.add(nxt)
            cur = nxt
        return cur

    def expose(self, path: str, uid: int, gids: set[int]) -> None:
        """Make the host's ``path`` reachable by ``uid`` (with groups ``gids``) in this root.

        Each directory on the way that the user may not search (e.g. root's mode-700 home over a
        Python under ``~/.pyenv`` in root's home) is replaced, in this root only, by a tmpfs (0755) holding
        a bind mount of just the next entry: the user reaches ``path`` and nothing else there.
        Permissions of ``path`` itself are unchanged.
        """
        host, cur = "/", self.root
        for comp in [p for p in os.path.realpath(path).split("/") if p]:
            nxt, host_nxt = os.path.join(cur, comp), os.path.join(host, comp)
            if cur in self._ours:
                if not os.path.lexists(nxt):
                    _bind_entry(host_nxt, nxt)
            elif not _searchable(host, uid, gids):
                _mount("tmpfs", cur, "tmpfs", 0, "mode=0755")
                _bind_entry(host_nxt, nxt)
                self._ours.add(cur)
            host, cur = host_nxt, nxt

    def bind(self, src: str, dst: str, *, ro: bool, file: bool, keep: tuple[str, ...] = ()) -> None:
        """Bind-mount ``src`` at ``dst`` in the new root.

        ``keep`` are host paths the container must still see at the same path (the Python
        environment and the project's sources). A writable directory volume mounted above one of
        them (an emptyDir at ``/tmp`` over a checkout under ``/tmp``) would hide it: the path is
        made inside the volume (empty directories, in the pod's own scratch) and the host path is
        bound there again, so the environment stays reachable and the rest of the volume is its own.
        """
        target = self.ensure(dst, file=file)
        base = os.path.normpath(dst)
        hidden = [] if file or ro else [p for p in keep if p.startswith(base.rstrip("/") + "/")]
        for path in hidden:
            os.makedirs(os.path.join(src, os.path.relpath(path, base)), exist_ok=True)
        _mount(src, target, None, MS_BIND | MS_REC)
        if ro:
            _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        for path in hidden:
            _mount(path, os.path.join(target, os.path.relpath(path, base)), None, MS_BIND | MS_REC)


def enter(spec: dict[str, Any]) -> None:
    """Join/enter the namespaces, build the root, drop privileges (everything before exec)."""
    with open(spec["netns"]) as fh:
        _check(_libc.setns(fh.fileno(), CLONE_NEWNET), "setns(net)")
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWUTS), "unshare(mnt, uts)")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    hostname = spec.get("hostname", "").encode()
    _check(_libc.sethostname(hostname, len(hostname)), "sethostname")
    rb = RootBuilder(spec["root"])
    if spec.get("uid") is not None:  # before the volumes, which may then land in an exposed directory
        gid = spec["uid"] if spec.get("gid") is None else spec["gid"]
        gids = {int(g) for g in [gid, *spec.get("groups", [])]}
        for path in spec.get("expose", []):
            rb.expose(path, int(spec["uid"]), gids)
    keep = tuple(os.path.realpath(p) for p in spec.get("keep", []))
    for m in spec.get("mounts", []):
        rb.bind(m["src"], m["dst"], ro=bool(m.get("ro")), file=bool(m.get("file")), keep=keep)
    cwd = spec.get("cwd") or "/"
    rb.ensure(cwd, file=False)
    if spec.get("error_file"):  # opened before chroot hides it; closed by a successful exec
        spec["_error_fd"] = os.open(spec["error_file"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.chroot(spec["root"])
    os.chdir(cwd)
    if spec.get("gid") is not None:
        os.setgroups([int(g) for g in spec.get("groups", [])])
        os.setgid(int(spec["gid"]))
    if spec.get("uid") is not None:
        os.setuid(int(spec["uid"]))


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    try:
        enter(spec)
        os.execvpe(spec["argv"][0], spec["argv"], spec["env"])  # noqa: S606 - the container's own argv
    except OSError as e:
        msg = f"failed to start container process {spec['argv'][:1]}: {e}"
        print(msg, file=sys.stderr, flush=True)
        if "_error_fd" in spec:
            os.write(spec["_error_fd"], msg.encode())
        elif spec.get("error_file"):
            Path(spec["error_file"]).write_text(msg)
        os._exit(128)


if __name__ == "__main__":
    main()
