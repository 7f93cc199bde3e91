import json
import os


def init():
    global model_dir
    model_dir = os.environ["AZUREML_MODEL_DIR"]


def run(raw_data):
    data = json.loads(raw_data)["data"]
    return [sum(row) for row in data]
