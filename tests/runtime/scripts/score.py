# The Azure ML contract, unchanged from what users deploy today: init() loads the joblib model
# from AZUREML_MODEL_DIR, run(raw_data) gets the body as a JSON string.
import json
import os

import joblib
import numpy as np

model = None


def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib"))


def run(raw_data):
    data = np.asarray(json.loads(raw_data)["data"], dtype=np.float64)
    return model.predict(data).tolist()
