"""Undecorated run(raw_data): gets the body text, whatever it is (CSV, plain text, broken JSON)."""

import json


def init():
    pass


def run(raw_data):
    try:
        parsed, kind = json.loads(raw_data), "json"
    except ValueError:
        parsed, kind = None, "text"
    return {
        "type": type(raw_data).__name__,
        "kind": kind,
        "text": raw_data,
        "lines": len(raw_data.splitlines()),
        "parsed": parsed,
    }
