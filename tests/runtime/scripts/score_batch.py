# Opts in to micro-batching with run_batch(); records every batch size it is called with.
import json
import os

import joblib
import numpy as np

model = None
batch_sizes = []


def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib"))


def run(raw_data):
    return run_batch([raw_data])[0]


def run_batch(raw_items):
    batch_sizes.append(len(raw_items))
    rows = [np.asarray(json.loads(raw)["data"], dtype=np.float64) for raw in raw_items]
    predictions = model.predict(np.concatenate(rows))
    out, start = [], 0
    for block in rows:
        out.append(predictions[start : start + len(block)].tolist())
        start += len(block)
    return out
