"""inference-schema with a numpy input (rows of 4 floats) and a numpy output."""

import numpy as np
from inference_schema.parameter_types.numpy_parameter_type import NumpyParameterType
from inference_schema.schema_decorators import input_schema, output_schema


def init():
    pass


@input_schema("data", NumpyParameterType(np.array([[0.1, 1.2, 2.3, 3.4]])))
@output_schema(NumpyParameterType(np.array([6.0])))
def run(data):
    return data.sum(axis=1).tolist()
