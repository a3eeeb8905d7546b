"""Settings from BIPPOP_* variables: parsed once, refused with a message that says which and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from bippop.config import Settings, SettingsError, describe_url


def test_nothing_set_means_development_with_embedded_services() -> None:
    settings = Settings.from_env({})
    assert settings.env == "development"
    assert settings.database_url is None and settings.redis_url is None and settings.storage_url is None
    assert settings.port == 8000
    assert settings.base_domain == "localhost"


def test_values_are_typed() -> None:
    settings = Settings.from_env(
        {
            "BIPPOP_PORT": "8080",
            "BIPPOP_SEED_DEMO": "false",
            "BIPPOP_VAR_DIR": "/tmp/somewhere",
            "BIPPOP_BROKER_URL": "amqp://guest:guest@rabbit:5672/",
        }
    )
    assert settings.port == 8080
    assert settings.seed_demo is False
    assert settings.var_dir == Path("/tmp/somewhere")
    assert settings.effective_broker_url == "amqp://guest:guest@rabbit:5672/"


def test_broker_defaults_to_redis() -> None:
    settings = Settings.from_env({"BIPPOP_REDIS_URL": "redis://r:6379/0"})
    assert settings.effective_broker_url == "redis://r:6379/0"


@pytest.mark.parametrize(
    ("environ", "mentions"),
    [
        ({"BIPPOP_PORT": "huit"}, "BIPPOP_PORT"),
        ({"BIPPOP_SEED_DEMO": "peut-être"}, "BIPPOP_SEED_DEMO"),
        ({"BIPPOP_ENV": "staging"}, "BIPPOP_ENV"),
        ({"BIPPOP_DATABASE_URL": "mysql://x"}, "BIPPOP_DATABASE_URL"),
        ({"BIPPOP_BROKER_URL": "kafka://x"}, "BIPPOP_BROKER_URL"),
        ({"BIPPOP_STORAGE_URL": "ftp://x"}, "BIPPOP_STORAGE_URL"),
        ({"BIPPOP_ENV": "production"}, "BIPPOP_SECRET_KEY"),
        ({"BIPPOP_ENV": "production", "BIPPOP_SECRET_KEY": "k" * 40}, "BIPPOP_DATABASE_URL"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(environ: dict[str, str], mentions: str) -> None:
    with pytest.raises(SettingsError, match=mentions):
        Settings.from_env(environ)


def test_described_urls_never_show_a_password() -> None:
    assert (
        describe_url("postgresql://bippop:s3cret@db.example:5432/bippop")
        == "postgresql://db.example:5432/bippop"
    )
    assert "s3cret" not in describe_url("redis://:s3cret@cache:6379/0")
    # A unix socket: the form psql and BIPPOP_DATABASE_URL accept, whether the host is quoted or not.
    assert (
        describe_url("postgresql://postgres:@/postgres?host=/tmp/x")
        == "postgresql://postgres@/postgres?host=/tmp/x"
    )
    assert (
        describe_url("postgresql://bippop_app:pw@/postgres?host=%2Ftmp%2Fx")
        == "postgresql://bippop_app@/postgres?host=/tmp/x"
    )


def test_development_secret_key_is_generated_once(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path)
    first = settings.effective_secret_key()
    assert len(first) >= 32
    assert settings.effective_secret_key() == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
