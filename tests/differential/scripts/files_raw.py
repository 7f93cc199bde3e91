"""@rawhttp script reading Flask request members: files (one, several), form, args, values, JSON."""

import hashlib
import io

from azureml.contrib.services.aml_request import AMLRequest, rawhttp  # noqa: F401 -- Azure's import
from azureml.contrib.services.aml_response import AMLResponse


def init():
    pass


def _describe(storage):
    data = storage.read()
    return {
        "field": storage.name,
        "filename": storage.filename,
        "content_type": storage.content_type,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


@rawhttp
def run(request):
    if request.method == "GET":
        return {"args": request.args.to_dict(flat=False), "path": request.path, "method": request.method}
    kind = request.args.get("kind", "one")
    if kind == "one":  # one image, read as on Azure's samples
        return _describe(request.files["file"])
    if kind == "many":
        return [_describe(f) for f in request.files.getlist("file[]")]
    if kind == "form":
        return {
            "form": request.form.to_dict(flat=False),
            "values": request.values.to_dict(flat=False),
            "files": sorted(request.files),
        }
    if kind == "save":
        buffer = io.BytesIO()
        request.files["file"].save(buffer)
        return {
            "saved": len(buffer.getvalue()),
            "stream_first": request.files["file"].stream.getvalue()[:2].hex(),
        }
    if kind == "json":
        return {"json": request.get_json(), "mimetype": request.mimetype, "is_json": request.is_json}
    if kind == "data":
        return {"size": len(request.get_data()), "text": request.get_data(as_text=True)[:40]}
    if kind == "headers":
        return {k: v for k, v in request.headers.items() if k.lower().startswith("x-test")}
    if kind == "png":
        return AMLResponse(b"\x89PNG\r\n\x1a\n" + request.get_data(), 200, {"Content-Type": "image/png"})
    return AMLResponse({"unknown": kind}, 404, json_str=True)
