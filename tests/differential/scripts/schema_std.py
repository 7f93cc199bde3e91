"""inference-schema with standard Python types (several run() arguments, one optional)."""

from inference_schema.parameter_types.standard_py_parameter_type import StandardPythonParameterType
from inference_schema.schema_decorators import input_schema, output_schema


def init():
    pass


@input_schema("data", StandardPythonParameterType({"a": [1.0, 2.0], "b": "text"}))
@input_schema("scale", StandardPythonParameterType(1.0))
@output_schema(StandardPythonParameterType({"total": 3.0, "b": "text"}))
def run(data, scale=1.0):
    return {"total": sum(data["a"]) * scale, "b": data["b"]}
