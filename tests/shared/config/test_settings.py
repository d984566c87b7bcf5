"""Settings: environment, overrides, checks, and no secrets in reprs."""

from __future__ import annotations

import pytest

from vecq.shared.config.celery_config import celery_config
from vecq.shared.config.redis_client import REDIS_CONNECT_TIMEOUT, REDIS_SOCKET_TIMEOUT, connect
from vecq.shared.config.sentinel import SentinelUrl
from vecq.shared.config.settings import Settings
from vecq.shared.redaction import redact_url


def test_environment_then_overrides() -> None:
    """VECQ_* variables are read, typed, and explicit arguments win."""
    env = {
        "VECQ_REDIS_URL": "redis://h:6379/0",
        "VECQ_BATCH_SIZE": "512",
        "VECQ_PREFER_GRPC": "false",
        "VECQ_STALL_TIMEOUT": "2.5",
    }
    s = Settings.from_env(env, batch_size=1024)
    assert (s.redis_url, s.batch_size, s.prefer_grpc, s.stall_timeout) == (
        "redis://h:6379/0",
        1024,
        False,
        2.5,
    )
    assert s.resolved_broker_url == "redis://h:6379/0"
    assert not s.embedded


def test_defaults_are_embedded() -> None:
    """With nothing set, vecq is embedded with Qdrant Edge under ./.vecq; a path is local mode."""
    s = Settings.from_env({})
    assert s.embedded and s.engine == "edge" and s.in_process_engine
    assert s.edge_path.endswith(".vecq/edge")
    assert Settings.from_env({"VECQ_QDRANT_PATH": "/q"}).engine == "local"
    server = Settings.from_env({"VECQ_QDRANT_URL": "http://q:6333", "VECQ_QDRANT_PATH": "/q"})
    assert server.engine == "server" and not server.in_process_engine


@pytest.mark.parametrize(
    ("var", "value"), [("VECQ_BATCH_SIZE", "many"), ("VECQ_PREFER_GRPC", "maybe")]
)
def test_bad_environment_values_name_the_variable(var: str, value: str) -> None:
    """A malformed variable raises ValueError naming it."""
    with pytest.raises(ValueError, match=var):
        Settings.from_env({var: value})


def test_visibility_timeout_must_exceed_time_limit() -> None:
    """Settings that would make Redis redeliver running tasks are refused."""
    with pytest.raises(ValueError, match="visibility_timeout"):
        Settings.from_env({}, visibility_timeout=100, task_time_limit=300)


def test_unknown_override_is_a_type_error() -> None:
    """A misspelt setting is not silently ignored."""
    with pytest.raises(TypeError, match="bach_size"):
        Settings.from_env({}, bach_size=3)


def test_secrets_never_appear_in_repr() -> None:
    """Passwords in URLs and the Qdrant API key are redacted."""
    s = Settings.from_env(
        {},
        redis_url="redis://user:hunter2@h:6379/0",
        qdrant_url="https://q:6333",
        qdrant_api_key="sk-topsecret",
    )
    text = repr(s)
    assert "hunter2" not in text and "sk-topsecret" not in text
    assert "redis://user:***@h:6379/0" in text
    assert redact_url("rediss://:pw@h/0") == "rediss://:***@h/0"


def test_in_task_retry_budget_must_fit_well_inside_the_time_limit() -> None:
    """retry_seconds above half the task time limit is refused, naming both."""
    with pytest.raises(ValueError, match=r"retry_seconds \(200\).*task_time_limit \(300s\)"):
        Settings.from_env({}, retry_seconds=200)


def test_retry_and_backpressure_settings_come_from_the_environment() -> None:
    """The new knobs read VECQ_* like every other setting."""
    env = {
        "VECQ_TASK_RETRIES": "2",
        "VECQ_TASK_RETRY_BACKOFF": "1.5",
        "VECQ_BACKPRESSURE_TIMEOUT": "9",
        "VECQ_MAX_INFLIGHT_BYTES": "1000",
        "VECQ_QDRANT_CA_CERT": "/etc/ca.pem",
    }
    s = Settings.from_env(env)
    assert (s.task_retries, s.task_retry_backoff, s.backpressure_timeout) == (2, 1.5, 9.0)
    assert (s.max_inflight_bytes, s.qdrant_ca_cert) == (1000, "/etc/ca.pem")


def test_commands_settings_and_the_redis_client_come_from_settings() -> None:
    """VECQ_INDEX_KEY (never shown) and VECQ_API_TOKENS are read here; the client has timeouts."""
    s = Settings.from_env(
        {"VECQ_INDEX_KEY": "ab" * 32, "VECQ_API_TOKENS": "/run/tokens.toml"},
        redis_url="redis://h:6379/0",
    )
    assert s.index_key == "ab" * 32 and s.api_tokens == "/run/tokens.toml"
    assert "ab" * 32 not in repr(s)
    kwargs = connect(s).connection_pool.connection_kwargs
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (
        REDIS_SOCKET_TIMEOUT,
        REDIS_CONNECT_TIMEOUT,
    )
    with pytest.raises(ValueError, match="no Redis URL"):
        connect(Settings())


def test_a_sentinel_url_names_sentinels_master_database_and_password() -> None:
    """kombu's form: parts ;-separated, the master's password on the first, name and db last."""
    url = "sentinel://:p%40ss@s1:26379;sentinel://s2/3?master_name=main"
    parsed = SentinelUrl.parse(url)
    assert parsed.sentinels == (("s1", 26379), ("s2", 26379))
    assert (parsed.master, parsed.db, parsed.password) == ("main", 3, "p@ss")
    # kombu gets every part with the (quoted) password and the database, and the master's
    # name as a transport option
    config = celery_config(Settings(redis_url=url))
    assert config["broker_url"] == "sentinel://:p%40ss@s1:26379/3;sentinel://:p%40ss@s2:26379/3"
    assert config["broker_transport_options"]["master_name"] == "main"
    assert "p@ss" not in repr(Settings(redis_url=url))


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sentinel://s1:26379/0", "name the master with"),
        ("sentinel://s1:26379;redis://s2/0?master_name=m", "part 2"),
        ("sentinel://s1:26379/zero?master_name=m", "'zero' is not a number"),
    ],
)
def test_a_malformed_sentinel_url_is_refused_with_what_is_wrong(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(redis_url=url)
    with pytest.raises(ValueError, match=message):
        Settings.from_env(broker_url=url)


def test_a_unix_socket_redis_is_the_broker_too() -> None:
    """redis-py's unix:// URL (Redis on a socket) serves as the Celery broker as it is given:
    kombu has no unix:// transport, so it is spelled redis+socket:// for the broker."""
    settings = Settings(redis_url="unix:///run/redis/redis.sock?db=2")
    assert settings.resolved_broker_url == "redis+socket:///run/redis/redis.sock?db=2"
    assert celery_config(settings)["broker_url"] == "redis+socket:///run/redis/redis.sock?db=2"
    explicit = Settings(redis_url="redis://h/0", broker_url="unix:///tmp/r.sock")
    assert explicit.resolved_broker_url == "redis+socket:///tmp/r.sock"


@pytest.mark.parametrize(
    ("setting", "url", "message"),
    [
        ("redis_url", "notaurl", r"VECQ_REDIS_URL='notaurl' is not a URL vecq can use: begin"),
        ("redis_url", "http://h:6379", r"VECQ_REDIS_URL='http://h:6379' is not a URL vecq can"),
        ("redis_url", "redis://h:x/0", r"VECQ_REDIS_URL='redis://h:x/0': Port could not be"),
        ("redis_url", "redis://u:hunter2@h:99999", r"VECQ_REDIS_URL='redis://u:\*\*\*@h:99999'"),
        ("broker_url", "amqp://h:port//", r"VECQ_BROKER_URL='amqp://h:port//': Port could not"),
        ("broker_url", "guest@h", r"VECQ_BROKER_URL='guest@h' is not a URL vecq can use"),
    ],
)
def test_a_malformed_url_is_refused_naming_its_setting(
    setting: str, url: str, message: str
) -> None:
    """Before any connection: the setting, its value (password hidden) and what is wrong."""
    with pytest.raises(ValueError, match=message) as refused:
        Settings.from_env(**{setting: url})
    assert "hunter2" not in str(refused.value)
