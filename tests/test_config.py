"""Start-up settings: a bad value stops the bot with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TELEGRAM_BOT_TOKEN", "not-a-token", "TELEGRAM_BOT_TOKEN: expected <digits>:<secret>"),
        ("BOT_MODE", "carrier-pigeon", "BOT_MODE: Input should be 'polling' or 'webhook'"),
        ("TIMEZONE", "Asia/Saigon_City", "TIMEZONE: unknown time zone"),
        ("HTTP_PORT", "99999", "HTTP_PORT"),
    ],
)
def test_invalid_setting_stops_start_up_with_one_line(
    variable: str, value: str, message: str, tmp_path: Path
) -> None:
    env = {**os.environ, variable: value, "DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert value not in lines[0] or variable != "TELEGRAM_BOT_TOKEN"  # secrets never echoed


def test_webhook_mode_needs_url_and_secret() -> None:
    with pytest.raises(ValueError, match="WEBHOOK_BASE_URL and WEBHOOK_SECRET"):
        Settings(_env_file=None, bot_mode="webhook")


def test_no_token_means_sandbox() -> None:
    settings = Settings(_env_file=None)
    assert settings.sandbox and settings.base_url == "http://127.0.0.1:8080"


def test_every_setting_is_documented_in_env_example() -> None:
    documented = {
        line.split("=", 1)[0]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert documented == {name.upper() for name in Settings.model_fields}


def test_a_copy_of_env_example_is_a_valid_sandbox_configuration() -> None:
    settings = Settings(_env_file=ROOT / ".env.example")
    assert settings.sandbox and settings.slot_deadlines == "08:00,13:00,19:00"


ZALO: dict[str, Any] = {
    "zalo_bot_token": "1234567890:zalo-secret-token",
    "secret_key": "k" * 40,
    "audit_key": "a" * 40,
}


def test_a_platform_token_needs_an_audit_key_kept_apart_from_the_database() -> None:
    without = {name: value for name, value in ZALO.items() if name != "audit_key"}
    local: dict[str, Any] = {"zalo_api_base": "http://127.0.0.1:8090/zalo"}
    with pytest.raises(ValueError, match="AUDIT_KEY is required"):
        Settings(_env_file=None, **local, **without)
    with pytest.raises(ValueError, match="at least 32 random characters"):
        Settings(_env_file=None, **local, **{**ZALO, "audit_key": "short"})
    assert Settings(_env_file=None, **local, **ZALO).audit_hmac_key() == b"a" * 40


def test_zalo_needs_an_https_address_it_can_fetch_images_from() -> None:
    with pytest.raises(ValueError, match="PUBLIC_BASE_URL must be an https:// URL"):
        Settings(_env_file=None, **ZALO)
    with pytest.raises(ValueError, match="PUBLIC_BASE_URL must be an https:// URL"):
        Settings(_env_file=None, public_base_url="http://khaibao.example.vn", **ZALO)
    fine = Settings(_env_file=None, public_base_url="https://khaibao.example.vn", **ZALO)
    assert fine.base_url == "https://khaibao.example.vn" and not fine.zalo_is_local


def test_a_local_zalo_emulator_is_exempt() -> None:
    local = Settings(_env_file=None, zalo_api_base="http://127.0.0.1:8090/zalo", **ZALO)
    assert local.zalo_is_local and local.base_url.startswith("http://")


def test_retired_keys_still_verify_and_short_ones_are_refused() -> None:
    keys = Settings(
        _env_file=None, secret_key="n" * 40, retired_secret_keys=f"{'o' * 40}, {'p' * 40}"
    ).keyring()
    assert keys.current == b"n" * 40 and keys.retired == (b"o" * 40, b"p" * 40)
    with pytest.raises(ValueError, match="at least 32 random characters"):
        Settings(_env_file=None, retired_secret_keys="short")
