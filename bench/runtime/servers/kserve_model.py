# KServe's Python ModelServer serving the same joblib model through the v1 protocol
# (POST /v1/models/model:predict {"instances": rows} -> {"predictions": [...]}), its fastest path.
import argparse
import os

import joblib
import numpy as np
from kserve import Model, ModelServer, model_server


class Joblib(Model):
    def __init__(self, name: str, model_dir: str):
        super().__init__(name)
        self.model = joblib.load(os.path.join(model_dir, "model.joblib"))
        self.ready = True

    def predict(self, payload, headers=None):
        return {
            "predictions": self.model.predict(np.asarray(payload["instances"], dtype=np.float64)).tolist()
        }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--model_dir", required=True)
    args, _ = parser.parse_known_args()
    ModelServer().start([Joblib(args.model_name, args.model_dir)])
