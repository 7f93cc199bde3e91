"""inference-schema with a pandas input (a float, a string and a datetime column)."""

import pandas as pd
from inference_schema.parameter_types.pandas_parameter_type import PandasParameterType
from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema, output_schema

SAMPLE = pd.DataFrame({"f0": [1.5], "name": ["a"], "when": pd.to_datetime(["2024-01-02"])})


def init():
    pass


@input_schema("data", PandasParameterType(SAMPLE))
@output_schema(StandardPythonParameterType({"rows": 1, "total": 1.5, "names": ["a"]}))
def run(data):
    return {"rows": len(data), "total": float(data["f0"].sum()), "names": data["name"].tolist()}
