# inference-schema decorators: run() gets a numpy array (converted by the decorator) and the
# decorators drive /swagger.json. Wrong shapes are answered with a 400 by the script itself.
import os

import joblib
import numpy as np
from azureml.contrib.services.aml_response import AMLResponse
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema, output_schema

model = None


def init():
    global model
    model = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib"))


@input_schema("data", NumpyParameterType(np.array([[0.1, 0.2, 0.3, 0.4]], dtype=np.float64)))
@input_schema("threshold", StandardPythonParameterType(0.5), optional=True)
@output_schema(StandardPythonParameterType({"labels": [1], "threshold": 0.5}))
def run(data, threshold=0.5):
    if data.ndim != 2 or data.shape[1] != 4 or data.shape[0] == 0:
        return AMLResponse(
            {"message": f"expected rows of 4 features, got shape {data.shape}"}, 400, json_str=True
        )
    proba = model.predict_proba(data)[:, 1]
    return {"labels": (proba >= threshold).astype(int).tolist(), "threshold": threshold}
