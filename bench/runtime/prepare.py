"""Train the benchmark model and write every server's request bodies (run with the project venv).

Same model as the shared peer kit: LogisticRegression(random_state=0) on
make_classification(n_samples=1000, n_features=4, random_state=0), saved with joblib and as an
MLflow model with a tensor signature (cloudpickle, so no extra package is needed to load it).
"""

from __future__ import annotations

import functools
import json
import operator
import shutil
import sys
from pathlib import Path

import joblib
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    X, y = make_classification(n_samples=1000, n_features=4, n_informative=3, n_redundant=1, random_state=0)
    X = X.round(6)
    model = LogisticRegression(random_state=0).fit(X, y)
    joblib.dump(model, out / "model.joblib")
    payloads = out / "payloads"
    payloads.mkdir(exist_ok=True)
    for n in (1, 100):
        rows = X[:n].tolist()
        bodies = {
            "azureml": {"data": rows},  # run(raw_data) scripts (ours, azureml-inference-server-http)
            "v1": {"instances": rows},  # KServe v1
            "v2": {
                "inputs": [
                    {
                        "name": "input-0",
                        "shape": [n, 4],
                        "datatype": "FP64",
                        "data": functools.reduce(operator.iadd, rows, []),
                    }
                ]
            },
            "input_data": {"input_data": rows},  # Azure ML's MLflow format (ours)
        }
        for name, body in bodies.items():
            (payloads / f"{name}_{n}.json").write_text(json.dumps(body))
    import mlflow.sklearn
    from mlflow.models import infer_signature

    target = out / "mlflow-tensor"
    shutil.rmtree(target, ignore_errors=True)
    signature = infer_signature(X[:5], model.predict(X[:5]))
    mlflow.sklearn.save_model(model, str(target), signature=signature, serialization_format="cloudpickle")
    print(f"model + payloads + MLflow model in {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
