"""One pod on a process node: a thread that plays the kubelet's pod worker.

Sequence: admit (every image must be one we can run, else ``ErrImagePull``), sandbox (netns +
IP), volumes, init containers one by one, then the containers; then a loop every 0.2 s that
reaps exits, restarts with the CrashLoopBackOff back-off (0 s, 10 s, 20 s ... 300 s; reset after
10 min of running), runs probes, refreshes configMap/secret volumes and patches the status when
it changed. Deletion: SIGTERM to every container, SIGKILL after the grace period, tear down the
sandbox, then delete the pod object with grace 0 (as the kubelet does). Nothing in a pod spec
may raise out of here: errors end as a waiting/terminated state with a message.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from dataclasses import dataclass

from mlendpoints_dev.nodeagent import probes
from mlendpoints_dev.nodeagent.containers import ContainerRun, image_profile, pull_error
from mlendpoints_dev.nodeagent.kube import ApiError, Obj
from mlendpoints_dev.nodeagent.podstatus import Conditions, phase, pod_conditions, will_restart
from mlendpoints_dev.nodeagent.runtime import PodRuntime
from mlendpoints_dev.nodeagent.volumes import VolumeError

log = logging.getLogger("nodeagent")
TICK = 0.2
BACKOFF_MAX = 300.0
BACKOFF_RESET = 600.0


@dataclass
class Deletion:
    grace: float
    gone: bool  # the object is already gone (force delete): no API delete at the end


class PodWorker(threading.Thread):
    """Runs one pod until it is deleted (see the module docstring)."""

    def __init__(self, pod: Obj, rt: PodRuntime) -> None:
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.pod = pod
        self.rt = rt
        self.uid: str = meta["uid"]
        self.policy: str = pod["spec"].get("restartPolicy", "Always")
        logs = rt.pod_dir / "logs"
        self.inits = [
            ContainerRun(c, True, logs / c["name"]) for c in pod["spec"].get("initContainers") or []
        ]
        self.mains = [ContainerRun(c, False, logs / c["name"]) for c in pod["spec"]["containers"]]
        self.conds = Conditions()
        self.deletion: Deletion | None = None
        self.init_failed = False
        self.sandbox = False
        self._last_status: Obj | None = None
        self._mount_error = ""
        self._wake = threading.Event()
        self._lock = threading.Lock()

    # ----------------------------------------------------------------- from the agent
    def update(self, pod: Obj) -> None:
        """A newer version of the pod from the watch."""
        with self._lock:
            self.pod["metadata"] = pod["metadata"]
            self.rt.pod = self.pod
            meta = pod["metadata"]
            if meta.get("deletionTimestamp") and self.deletion is None:
                grace = meta.get("deletionGracePeriodSeconds")
                if grace is None:
                    grace = self.pod["spec"].get("terminationGracePeriodSeconds", 30)
                self.deletion = Deletion(float(grace), gone=False)
        self._wake.set()

    def gone(self) -> None:
        """The object was removed from the API (force delete): stop at once."""
        with self._lock:
            self.deletion = Deletion(0.0, gone=True)
        self._wake.set()

    def container(self, name: str | None) -> ContainerRun | None:
        runs = [*self.mains, *self.inits]
        if name is None:
            return self.mains[0] if len(self.mains) == 1 else None
        return next((c for c in runs if c.name == name), None)

    # ----------------------------------------------------------------- main
    def run(self) -> None:
        try:
            self._run()
        except Exception as e:  # a bug must not take the agent down; show it on the pod
            log.error("pod %s: %s", self.label, traceback.format_exc())
            for c in [*self.inits, *self.mains]:
                if not c.running:
                    c.waiting = ("RunContainerError", f"node agent error: {e}")
            self._push_status()
            self._wait_deletion()
        finally:
            self._teardown()

    @property
    def label(self) -> str:
        return f"{self.pod['metadata']['namespace']}/{self.pod['metadata']['name']}"

    def _sleep(self, seconds: float) -> None:
        self._wake.wait(seconds)
        self._wake.clear()

    def _wait_deletion(self) -> None:
        while self.deletion is None:
            self._sleep(5)

    def _run(self) -> None:
        if not self._admit():
            self._push_status()
            self._wait_deletion()
            return
        while self.deletion is None:
            err = self._prepare()
            if err is None:
                break
            for c in [*self.inits, *self.mains]:
                c.waiting = err
            self._push_status()
            self._sleep(2)
        for c in self.inits:
            if self.deletion is not None or not self._run_init(c):
                break
        else:
            while self.deletion is None and self._tick():
                self._push_status()
                self._sleep(TICK)
        self._push_status()
        self._wait_deletion()

    def _admit(self) -> bool:
        ok = True
        for c in [*self.inits, *self.mains]:
            image = c.spec.get("image", "")
            if image_profile(image, self.rt.extra_images) is None:
                c.waiting = ("ErrImagePull", pull_error(image))
                self.rt.event("Failed", f'Failed to pull image "{image}": {pull_error(image)}', "Warning")
                ok = False
        return ok

    def _prepare(self) -> tuple[str, str] | None:
        """Sandbox and volumes; a (reason, message) waiting state when they cannot be made yet."""
        try:
            if not self.sandbox:
                self.rt.create_sandbox()
                self.sandbox = True
                self._push_status()
            self.rt.setup_volumes()
        except VolumeError as e:
            if self._mount_error != str(e):  # one event per distinct problem, not one per retry
                self._mount_error = str(e)
                self.rt.event("FailedMount", str(e), "Warning")
            return ("CreateContainerConfigError", str(e))
        return None

    # ----------------------------------------------------------------- containers
    def _start(self, c: ContainerRun) -> bool:
        try:
            self.rt.start(c)
        except Exception as e:  # config errors (env, mounts) are the pod's, not ours
            if c.waiting != ("CreateContainerConfigError", str(e)):
                self.rt.event("Failed", f"Error: {e}", "Warning")
            c.waiting = ("CreateContainerConfigError", str(e))
            c.next_start = time.monotonic() + 2.0  # retry: the missing Secret/ConfigMap may appear
            return False
        self.rt.event("Started", f"Started container {c.name}")
        return True

    def _run_init(self, c: ContainerRun) -> bool:
        """Run an init container to success (with restarts); False when the pod cannot go on."""
        while self.deletion is None:
            if time.monotonic() < c.next_start:
                self._sleep(TICK)
                continue
            self._restart_bookkeeping(c)
            if not self._start(c):
                self._push_status()
                self._sleep(2)
                continue
            self._push_status()
            while self.deletion is None and c.running:
                self._volumes_refresh()
                self._sleep(TICK)
            if self.deletion is not None:
                return False
            term = self.rt.reap(c)
            if term and term["exitCode"] == 0:
                c.next_start = 0.0
                return True
            if self.policy == "Never":
                self.init_failed = True
                return False
            self._schedule_restart(c)
            self._push_status()
        return False

    def _restart_bookkeeping(self, c: ContainerRun) -> None:
        if c.terminated is not None:  # this start is a restart
            c.last_terminated, c.terminated = c.terminated, None
            c.restart_count += 1
        c.next_start = 0.0

    def _schedule_restart(self, c: ContainerRun) -> None:
        ran = time.monotonic() - c.started_mono
        c.crashes = 0 if ran > BACKOFF_RESET else c.crashes + 1
        delay = 0.0 if c.crashes <= 1 else min(10.0 * 2 ** (c.crashes - 2), BACKOFF_MAX)
        c.next_start = time.monotonic() + max(delay, 0.001)
        if delay:
            pod = self.pod["metadata"]
            msg = f"back-off {delay:.0f}s restarting failed container={c.name} pod={pod['name']}_{pod['namespace']}({self.uid})"
            c.waiting = ("CrashLoopBackOff", msg)
            self.rt.event("BackOff", "Back-off restarting failed container", "Warning")
        else:
            c.waiting = ("ContainerCreating", "")

    def _tick(self) -> bool:
        """One round over the containers; False once the pod is terminal."""
        now = time.monotonic()
        for c in self.mains:
            if c.running:
                self._probe(c, now)
                continue
            if c.proc is not None:
                self.rt.reap(c)
                if will_restart(self.policy, c):
                    self._schedule_restart(c)
                continue
            first = c.terminated is None and c.started_at is None and not c.next_start
            if first or (c.next_start and now >= c.next_start):
                self._restart_bookkeeping(c)
                self._start(c)
        self._volumes_refresh()
        return phase(self.policy, self.inits, self.mains, self.init_failed) not in ("Succeeded", "Failed")

    def _probe(self, c: ContainerRun, now: float) -> None:
        spec = c.spec
        kinds = ["startupProbe"] if not c.started else ["livenessProbe", "readinessProbe"]
        for kind in kinds:
            probe = spec.get(kind)
            if not probe:
                continue
            st = c.probes.get(kind)
            if st is None:
                st = c.probes[kind] = probes.ProbeState(probe, c.started_mono)
            if not st.due(now):
                continue
            ok, msg = probes.run(probe, self.rt.pod_ip, spec, lambda argv, t: self.rt.exec(c, argv, t))
            st.record(ok, time.monotonic())
            if not ok:
                self.rt.event("Unhealthy", f"{kind[:-5].capitalize()} probe failed: {msg}", "Warning")
            if kind == "startupProbe" and st.passed:
                c.started = True
            elif kind == "readinessProbe":
                c.ready = st.passed or (c.ready and not st.failed)
            if kind in ("startupProbe", "livenessProbe") and st.failed:
                self.rt.event("Killing", f"Container {c.name} failed {kind[:-5]} probe, will be restarted")
                grace = float(probe.get("terminationGracePeriodSeconds") or self._grace())
                c.stop(grace)
        if c.started and not spec.get("readinessProbe"):
            c.ready = True

    def _grace(self) -> float:
        return float(self.pod["spec"].get("terminationGracePeriodSeconds", 30))

    def _volumes_refresh(self) -> None:
        try:
            self.rt.refresh_volumes()
        except Exception:  # keep the last good content, as the kubelet does
            log.debug("pod %s: volume refresh failed", self.label, exc_info=True)

    # ----------------------------------------------------------------- status
    def _push_status(self) -> None:
        terminal_phase = phase(self.policy, self.inits, self.mains, self.init_failed)
        terminal = terminal_phase in ("Succeeded", "Failed")
        images = {c.name: c.spec.get("image", "") for c in [*self.inits, *self.mains]}
        status: Obj = {
            "phase": terminal_phase,
            "conditions": pod_conditions(self.conds, self.sandbox, self.inits, self.mains, terminal),
            "hostIP": self.rt.host_ip,
            "hostIPs": [{"ip": self.rt.host_ip}],
            "containerStatuses": [c.status(images[c.name]) for c in self.mains],
        }
        if self.inits:
            status["initContainerStatuses"] = [c.status(images[c.name]) for c in self.inits]
        if self.sandbox:
            status["podIP"] = self.rt.pod_ip
            status["podIPs"] = [{"ip": self.rt.pod_ip}]
        if status == self._last_status:
            return
        status["startTime"] = self.rt.start_time
        try:
            self.rt.patch_status(status)
            self._last_status = {k: v for k, v in status.items() if k != "startTime"}
        except ApiError as e:
            if e.status == 404:
                self.gone()
            else:
                log.warning("pod %s: status patch failed: %s", self.label, e)

    # ----------------------------------------------------------------- teardown
    def _teardown(self) -> None:
        d = self.deletion or Deletion(0.0, gone=False)
        deadline = time.monotonic() + d.grace
        runs = [c for c in [*self.mains, *self.inits] if c.running]
        for c in runs:
            self.rt.event("Killing", f"Stopping container {c.name}")
        threads = [
            threading.Thread(target=c.stop, args=(max(0.0, deadline - time.monotonic()),)) for c in runs
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.rt.teardown()
        if not d.gone and self.deletion is not None:
            self.rt.delete_pod()

    def stop_now(self) -> None:
        """Agent shutdown: stop containers and tear down, leaving the pod object alone."""
        with self._lock:
            if self.deletion is None:
                self.deletion = Deletion(min(self._grace(), 5.0), gone=True)
        self._wake.set()
