"""Bad input and failures: one status per cause, a short JSON error, the request id on every reply."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def client(make_client):
    return make_client(entry_script="score_control.py", max_body_bytes=1024)


@pytest.fixture
def schema_client(make_client, joblib_dir):
    """A script with inference-schema decorators: its input must be a JSON object."""
    return make_client(model_dir=str(joblib_dir), entry_script="score_schema.py")


def test_malformed_json_is_400(schema_client):
    response = schema_client.post(
        "/score", content=b'{"data": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "BadRequest"
    assert "malformed JSON" in response.json()["error"]


def test_not_utf8_is_400(client):
    response = client.post("/score", content=b'"\xff"', headers={"Content-Type": "application/json"})
    assert response.status_code == 400


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "image/png"])
def test_wrong_content_type_is_415(schema_client, content_type):
    response = schema_client.post("/score", content=b"{}", headers={"Content-Type": content_type})
    assert response.status_code == 415


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/vnd.api+json"])
def test_json_content_types_are_accepted(client, content_type):
    response = client.post("/score", content=b'{"action": "echo"}', headers={"Content-Type": content_type})
    assert response.status_code == 200


def test_body_over_the_limit_is_413(client):
    response = client.post("/score", json={"action": "echo", "pad": "x" * 2000})
    assert response.status_code == 413
    assert response.json()["code"] == "PayloadTooLarge"


def test_chunked_body_over_the_limit_is_413(make_server):
    server = make_server(entry_script="score_control.py", max_body_bytes=1024)

    def chunks():
        for _ in range(10):
            yield b"x" * 200

    with server.client() as http:
        response = http.post("/score", content=chunks(), headers={"Content-Type": "application/json"})
        assert response.status_code == 413
        assert http.post("/score", json={"action": "echo"}).status_code == 200  # connection still usable


def test_unknown_route_is_404(client):
    for path in ("/nope", "/v2/models/model/nope", "/v2/models/model/versions/1/x/y", "/score/extra"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "NotFound"


def test_wrong_method_is_405(client):
    response = client.post("/readyz")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET"


def test_request_id_is_generated_or_echoed(client):
    generated = client.get("/").headers["x-request-id"]
    assert len(generated) == 36
    assert generated.count("-") == 4
    assert client.get("/").headers["x-request-id"] != generated
    echoed = client.get("/", headers={"x-request-id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    azure = client.post("/score", json={"action": "echo"}, headers={"x-ms-client-request-id": "client-7"})
    assert azure.headers["x-ms-client-request-id"] == "client-7"
    assert azure.headers["x-request-id"]


def test_overlong_request_id_is_431(client):
    response = client.get("/", headers={"x-request-id": "a" * 101})
    assert response.status_code == 431


def test_unprintable_request_id_is_replaced(make_server):
    server = make_server(entry_script="score_control.py")
    with server.client() as http:
        response = http.get("/", headers={"x-request-id": "caf\xe9".encode("latin-1")})
    assert response.status_code == 200
    assert response.headers["x-request-id"].isascii()


def test_errors_over_real_http_keep_the_connection(make_server):
    server = make_server(entry_script="score_control.py")
    with server.client() as http:
        assert (
            http.post("/score", content=b'"\xff"', headers={"Content-Type": "application/json"}).status_code
            == 400
        )
        assert http.post("/score", json={"action": "raise"}).status_code == 500
        assert http.post("/score", json={"action": "echo"}).status_code == 200


def test_server_error_reply_is_json_with_code(client):
    response = client.post("/score", json={"action": "raise"})
    assert isinstance(response.json()["message"], str)
    with pytest.raises(httpx.HTTPStatusError):
        response.raise_for_status()


def test_every_reply_names_the_deployment_that_answered(make_client):
    """``azureml-model-deployment`` on every response, errors included, as Azure ML's endpoints
    send it; the operator's gateway probe relies on it. Without a deployment name: no header."""
    named = make_client(entry_script="score_control.py", deployment_name="blue")
    for response in (named.get("/"), named.post("/score", json={"action": "echo"}), named.get("/nowhere")):
        assert response.headers.get_list("azureml-model-deployment") == ["blue"], response.status_code
    plain = make_client(entry_script="score_control.py")
    assert "azureml-model-deployment" not in plain.get("/").headers
    for odd in ("模型", "bl\u00e9", "a\r\nx-injected: 1"):  # `serve --deployment-name` takes any text
        other = make_client(entry_script="score_control.py", deployment_name=odd)
        response = other.get("/")
        assert response.status_code == 200
        assert "azureml-model-deployment" not in response.headers
        assert "x-injected" not in response.headers


def test_a_pin_to_another_deployment_is_answered_404_after_the_key_check(make_client, tmp_path):
    """A pin the endpoint's route did not send to its deployment (a name that is none of the
    endpoint's) reaches the default rule's deployment: it answers 404 naming the pin, as the local
    front does, instead of a prediction from a deployment the client did not ask for."""
    from tests.runtime.test_auth import mount_secret

    mount_secret(tmp_path, "k1", "k2", 1)
    named = make_client(entry_script="score_control.py", deployment_name="blue", auth_key_dir=str(tmp_path))
    auth = {"Authorization": "Bearer k1"}
    own = named.post("/score", json={"action": "echo"}, headers=auth | {"azureml-model-deployment": "blue"})
    assert own.status_code == 200
    assert named.post("/score", json={"action": "echo"}, headers=auth).status_code == 200
    foreign = named.post(
        "/score", json={"action": "echo"}, headers=auth | {"azureml-model-deployment": "purple"}
    )
    assert foreign.status_code == 404
    assert "no deployment 'purple' serves this endpoint" in foreign.json()["message"]
    assert foreign.headers.get_list("azureml-model-deployment") == ["blue"]
    # without the key: 401 first, so deployment names are not told to unauthenticated callers
    assert named.post("/score", json={}, headers={"azureml-model-deployment": "purple"}).status_code == 401
    # probes are not scoring requests: a pin on them changes nothing
    assert named.get("/", headers={"azureml-model-deployment": "purple"}).status_code == 200
    # a runtime that does not know its deployment (plain `mlendpoints serve`) cannot judge pins
    plain = make_client(entry_script="score_control.py")
    assert (
        plain.post("/score", json={"action": "echo"}, headers={"azureml-model-deployment": "x"}).status_code
        == 200
    )
