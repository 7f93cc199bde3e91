# The floor: the least a Python scoring server can do (Starlette + orjson + predict, no limits,
# auth or metrics). Not a product; it shows how close the runtime is to the framework's cost.
import os

import joblib
import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

MODEL = joblib.load(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model.joblib"))


async def score(request):
    rows = np.asarray(orjson.loads(await request.body())["data"], dtype=np.float64)
    return Response(orjson.dumps(MODEL.predict(rows).tolist()), media_type="application/json")


async def health(request):
    return Response(b"ok")


app = Starlette(routes=[Route("/score", score, methods=["POST"]), Route("/", health)])
