# A script the tests steer through the request: what to return, raise, or block on.
# GATE / STARTED are module globals: tests that run the server in-process set and wait on them.
import json
import threading
import time

import numpy as np

GATE = threading.Event()
STARTED = threading.Event()
calls = []


def init():
    GATE.clear()


def run(raw_data, request_headers):
    body = json.loads(raw_data)
    action = body.get("action", "echo")
    calls.append(action)
    if action == "echo":
        return body
    if action == "json_text":
        return json.dumps({"already": "json"})
    if action == "plain_text":
        return "not json"
    if action == "bytes":
        return b"\x00\x01binary"
    if action == "numpy":
        return {"array": np.arange(3), "scalar": np.float32(1.5)}
    if action == "header":
        return {"value": request_headers.get(body["name"]), "has_auth": "Authorization" in request_headers}
    if action == "raise":
        raise ValueError("secret detail that must not reach the client")
    if action == "unserializable":
        return object()
    if action == "gate":  # blocks in C (Event.wait): cannot be interrupted, only released
        STARTED.set()
        GATE.wait(body.get("max_s", 10))
        return {"released": GATE.is_set()}
    if action == "spin":  # pure-Python loop: cancellable at the next bytecode
        STARTED.set()
        deadline = time.monotonic() + body.get("max_s", 10)
        while time.monotonic() < deadline and not GATE.is_set():
            pass
        return {"spun": True}
    if action == "sleep":
        time.sleep(body["seconds"])
        return {"slept": body["seconds"]}
    raise KeyError(action)
