# What Azure ML's no-code MLflow deployment runs in azureml-inference-server-http: a scoring script
# that loads the MLflow model with mlflow.pyfunc and predicts the "input_data" rows.
import json
import os

import mlflow.pyfunc
import numpy as np

model = None


def init():
    global model
    model = mlflow.pyfunc.load_model(os.path.join(os.environ["AZUREML_MODEL_DIR"], "mlflow-tensor"))


def run(raw_data):
    return model.predict(np.asarray(json.loads(raw_data)["input_data"], dtype=np.float64)).tolist()
