# The Azure ML scoring script every script-based server runs (ours and azureml-inference-server-http):
# init() loads the joblib model, run(raw_data) parses the JSON string and predicts.
import json
import os

import joblib
import numpy as np

model = None


def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib"))


def run(raw_data):
    return model.predict(np.asarray(json.loads(raw_data)["data"], dtype=np.float64)).tolist()


def run_batch(raw_items):
    # Opt-in micro-batching (ignored by azureml-inference-server-http): one predict for many requests.
    blocks = [np.asarray(json.loads(raw)["data"], dtype=np.float64) for raw in raw_items]
    predictions = model.predict(np.concatenate(blocks)).tolist()
    out, start = [], 0
    for block in blocks:
        out.append(predictions[start : start + len(block)])
        start += len(block)
    return out
