# Raw HTTP access for binary payloads (images, audio): run() gets the request object.
import hashlib

from azureml.contrib.services.aml_request import AMLRequest, rawhttp
from azureml.contrib.services.aml_response import AMLResponse


def init():
    pass


@rawhttp
def run(request: AMLRequest):
    if request.method == "GET":
        return AMLResponse(request.full_path, 200)
    payload = request.get_data(False)
    if not payload:
        return AMLResponse("empty body", 400)
    headers = {"Content-Type": "application/octet-stream", "X-Sha256": hashlib.sha256(payload).hexdigest()}
    return AMLResponse(payload[::-1], 200, headers)
