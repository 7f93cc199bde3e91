"""Settings: env vars (the operator's contract), flags (``mlendpoints serve``), flag wins, checks."""

from __future__ import annotations

import pytest

from mlendpoints.runtime import config

CONTRACT_ENV = {
    "AZUREML_MODEL_DIR": "/var/azureml-app/model",
    "AZUREML_SOURCE_DIRECTORY": "/var/azureml-app/code",
    "AZUREML_ENTRY_SCRIPT": "score.py",
    "MLENDPOINTS_MODEL_TYPE": "custom",
    "MLENDPOINTS_HOST": "127.0.0.1",
    "MLENDPOINTS_PORT": "6001",
    "MLENDPOINTS_REQUEST_TIMEOUT_MS": "3000",
    "MLENDPOINTS_MAX_CONCURRENT_REQUESTS": "4",
    "MLENDPOINTS_MAX_QUEUE_WAIT_MS": "250",
    "MLENDPOINTS_AUTH_KEY_DIR": "/etc/keys",
    "MLENDPOINTS_MAX_BODY_BYTES": "1024",
    "MLENDPOINTS_DEBUG": "true",
    "MLENDPOINTS_LOG_LEVEL": "DEBUG",
    "MLENDPOINTS_MAX_BATCH_SIZE": "32",
    "MLENDPOINTS_MAX_BATCH_LATENCY_MS": "1.5",
}


def test_defaults():
    settings = config.from_env({})
    assert (settings.host, settings.port) == ("0.0.0.0", 5001)
    assert settings.request_timeout_ms == 5000
    assert settings.max_concurrent_requests == 1
    assert settings.max_queue_wait_ms == 500
    assert settings.queue_size == 64  # 2 x concurrency x 32
    assert settings.auth_key_dir is None
    assert settings.max_body_bytes == 100 * 1024 * 1024
    assert not settings.batching
    assert settings.model_type == "auto"


def test_the_operator_env_contract():
    settings = config.from_env(CONTRACT_ENV)
    assert settings.model_dir == "/var/azureml-app/model"
    assert settings.source_dir == "/var/azureml-app/code"
    assert settings.entry_script == "score.py"
    assert settings.model_type == "custom"
    assert (settings.host, settings.port) == ("127.0.0.1", 6001)
    assert (settings.request_timeout_ms, settings.max_concurrent_requests, settings.max_queue_wait_ms) == (
        3000,
        4,
        250,
    )
    assert settings.queue_size == 2 * 4 * 32
    assert settings.auth_key_dir == "/etc/keys"
    assert settings.max_body_bytes == 1024
    assert settings.debug is True
    assert settings.log_level == "DEBUG"
    assert settings.batching
    assert (settings.max_batch_size, settings.max_batch_latency_ms) == (32, 1.5)


def test_flags_win_over_env():
    settings = config.parse_args(
        ["--port", "7000", "--max-batch-size", "0", "--debug", "false"], CONTRACT_ENV
    )
    assert settings.port == 7000
    assert settings.max_batch_size == 0
    assert settings.debug is False
    assert settings.request_timeout_ms == 3000  # env still applies where no flag is given


def test_empty_auth_dir_means_auth_off():
    assert config.from_env({"MLENDPOINTS_AUTH_KEY_DIR": ""}).auth_key_dir is None


def test_azure_alias_for_the_source_directory():
    assert config.from_env({"AML_APP_ROOT": "/app"}).source_dir == "/app"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MLENDPOINTS_PORT": "http"}, "MLENDPOINTS_PORT"),
        ({"MLENDPOINTS_PORT": "70000"}, "MLENDPOINTS_PORT"),
        ({"MLENDPOINTS_DEBUG": "maybe"}, "MLENDPOINTS_DEBUG"),
        ({"MLENDPOINTS_MAX_CONCURRENT_REQUESTS": "0"}, "MLENDPOINTS_MAX_CONCURRENT_REQUESTS"),
        ({"MLENDPOINTS_REQUEST_TIMEOUT_MS": "-1"}, "MLENDPOINTS_REQUEST_TIMEOUT_MS"),
        ({"MLENDPOINTS_MODEL_TYPE": "onnx"}, "MLENDPOINTS_MODEL_TYPE"),
        ({"MLENDPOINTS_MAX_BATCH_SIZE": "8", "MLENDPOINTS_MAX_BATCH_LATENCY_MS": "500"}, "QUEUE_WAIT"),
    ],
)
def test_bad_values_name_the_variable(env, message):
    with pytest.raises(ValueError, match=message):
        config.from_env(env)


def test_help_lists_every_variable(capsys):
    with pytest.raises(SystemExit):
        config.build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    for option in config.OPTIONS:
        assert option.flag in text
        assert option.env in text
