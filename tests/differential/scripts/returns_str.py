"""run() returning str, as many Azure scripts do (json.dumps of the result, or a message)."""

import json


def init():
    pass


def run(raw_data):
    data = json.loads(raw_data)
    if data.get("plain"):
        return "plain text, caf\u00e9"
    return json.dumps({"echo": data, "sum": sum(data.get("x", []))})
