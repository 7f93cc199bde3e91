"""A scoring script in Azure ML's init()/run() shape: row sums times the model's scale.

It answers which deployment served it (COLOR, from the deployment's environment_variables), so the
traffic split and the azureml-model-deployment pin can be seen in the responses.
"""

import json
import os

scale = 1.0


def init():
    global scale
    with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "weights.json")) as fh:
        scale = json.load(fh)["scale"]


def run(raw_data):
    rows = json.loads(raw_data)["data"]
    return {"deployment": os.environ.get("COLOR", "?"), "predictions": [scale * sum(r) for r in rows]}
