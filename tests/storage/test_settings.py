"""load_settings(): the shipped config.toml, environment overrides, and clear errors for invalid configuration."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from storage.errors import ConfigError
from storage.settings import DEFAULT_CONFIG, Settings, load_settings

# Sections of config.toml: the fields of Settings that are models (database_url is a secret, never in the file).
SECTIONS = [
    name
    for name, field in Settings.model_fields.items()
    if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's or CI's own LIANXIN_* variables must not leak into these tests."""
    for name in list(os.environ):
        if name.startswith("LIANXIN_"):
            monkeypatch.delenv(name)


def write_config(folder: Path, text: str) -> Path:
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sections_are_found() -> None:
    assert {"general", "quota", "visits", "households"} <= set(SECTIONS)


@pytest.mark.parametrize("section", SECTIONS)
def test_shipped_config_equals_code_defaults(section: str) -> None:
    shipped = load_settings()
    defaults = Settings()
    assert getattr(shipped, section) == getattr(defaults, section)


@pytest.mark.parametrize("section", SECTIONS)
def test_shipped_config_documents_every_field(section: str) -> None:
    raw = tomllib.loads(DEFAULT_CONFIG.read_text(encoding="utf-8"))
    assert section in raw, f"config.toml has no [{section}] section"
    model = type(getattr(Settings(), section))
    missing = [name for name in model.model_fields if name not in raw[section]]
    assert not missing, f"config.toml [{section}] does not document {missing}"
    # Lists of labelled codes ([[visits.modes]], ...): together their items show every field of the item model.
    for name, value in getattr(Settings(), section):
        if isinstance(value, list) and value and isinstance(value[0], BaseModel):
            written = {key for item in raw[section][name] for key in item}
            item_fields = set(type(value[0]).model_fields)
            assert item_fields <= written, f"config.toml [[{section}.{name}]] never shows {item_fields - written}"


def test_environment_overrides_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write_config(tmp_path, "[quota]\nhouseholds_per_year = 50\nmin_in_home_share = 0.5\n")
    monkeypatch.setenv("LIANXIN_QUOTA__HOUSEHOLDS_PER_YEAR", "120")
    settings = load_settings(path)
    assert settings.quota.households_per_year == 120
    assert settings.quota.min_in_home_share == 0.5  # the rest of the section still comes from the file


def test_environment_overrides_the_shipped_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIANXIN_QUOTA__HOUSEHOLDS_PER_YEAR", "120")
    assert load_settings().quota.households_per_year == 120


def test_invalid_environment_value_names_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIANXIN_QUOTA__HOUSEHOLDS_PER_YEAR", "-3")
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "quota.households_per_year" in str(raised.value)
    assert "'-3'" in str(raised.value)


NO_IN_HOME_MODE = """
[[visits.modes]]
code = "forum"
zh = "座谈"
en = "Forum"
"""

DUPLICATE_CATEGORY = """
[[households.focus_groups]]
code = "youth"
zh = "青年"
en = "Youth"

[[households.must_visit]]
code = "youth"
zh = "青年"
en = "Youth"
"""


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        pytest.param(
            "[quota]\nhouseholds_per_year = -5\n",
            ["quota.households_per_year", "-5", "greater than or equal to 1"],
            id="negative-quota",
        ),
        pytest.param(
            "[quota]\nmin_in_home_share = 1.5\n",
            ["quota.min_in_home_share", "1.5", "less than or equal to 1"],
            id="share-above-one",
        ),
        pytest.param(
            '[general]\ntime_zone = "Mars/Base"\n',
            ["general.time_zone", "'Mars/Base'", "IANA time zone"],
            id="unknown-time-zone",
        ),
        pytest.param(
            '[general]\ndefault_language = "fr"\n',
            ["general.default_language", "'fr'", "'zh-CN' or 'en'"],
            id="unsupported-language",
        ),
        pytest.param(
            "[general]\ndialog_timeout_minutes = 0\n",
            ["general.dialog_timeout_minutes", "0", "greater than or equal to 1"],
            id="zero-timeout",
        ),
        pytest.param(
            '[quota]\nhouseholds_per_year = "many"\n',
            ["quota.households_per_year", "'many'", "valid integer"],
            id="text-for-number",
        ),
        pytest.param(NO_IN_HOME_MODE, ["visits", "in_home = true"], id="no-in-home-mode"),
        pytest.param(DUPLICATE_CATEGORY, ["households", "'youth'", "appears twice"], id="duplicate-category"),
        pytest.param(
            "[quotas]\nhouseholds_per_year = 5\n", ["quotas", "Extra inputs are not permitted"], id="unknown-section"
        ),
        pytest.param(
            "[quota]\nhouseholds_per_yr = 5\n",
            ["quota.households_per_yr", "5", "Extra inputs are not permitted"],
            id="unknown-key-in-section",
        ),
        pytest.param(
            '[[visits.modes]]\ncode = "home"\nzh = "入户"\nen = "In-home"\nin_hme = true\n',
            ["visits.modes.0.in_hme", "True", "Extra inputs are not permitted"],
            id="unknown-key-in-a-mode",
        ),
        pytest.param("[quota\nhouseholds_per_year = 5\n", ["config.toml", "line 1"], id="malformed-toml"),
    ],
)
def test_invalid_configuration_is_explained(tmp_path: Path, config: str, expected: list[str]) -> None:
    path = write_config(tmp_path, config)
    with pytest.raises(ConfigError) as raised:
        load_settings(path)
    message = str(raised.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "config.toml"
    with pytest.raises(ConfigError, match="not found") as raised:
        load_settings(missing)
    assert str(missing) in str(raised.value)


def test_lianxin_config_picks_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write_config(tmp_path, "[quota]\nhouseholds_per_year = 77\n")
    monkeypatch.setenv("LIANXIN_CONFIG", str(path))
    assert load_settings().quota.households_per_year == 77


def test_lianxin_config_pointing_nowhere_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    monkeypatch.setenv("LIANXIN_CONFIG", str(missing))
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert str(missing) in str(raised.value)


def test_explicit_path_beats_lianxin_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LIANXIN_CONFIG", str(write_config(tmp_path, "[quota]\nhouseholds_per_year = 77\n")))
    other = tmp_path / "other"
    other.mkdir()
    assert load_settings(write_config(other, "[quota]\nhouseholds_per_year = 88\n")).quota.households_per_year == 88


@pytest.mark.parametrize(
    "written",
    [
        'database_url = "postgresql://lianxin:hunter2@db/lianxin"',
        'DATABASE_URL = "postgresql://lianxin:hunter2@db/lianxin"',
        '[general]\ndatabase_url = "postgresql://lianxin:hunter2@db/lianxin"',
    ],
)
def test_a_secret_in_the_file_is_refused_without_showing_it(tmp_path: Path, written: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(written + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    assert "is a secret" in str(raised.value) and "LIANXIN_DATABASE_URL" in str(raised.value)
    assert "hunter2" not in str(raised.value)
