"""The real-daemon tests' own rules: when they skip or fail, the jar digests, the properties."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.support import kcl_daemon
from tests.support.kcl_daemon import (
    ADDED,
    CHECKED_JARS,
    DEPLOY_PROPERTIES,
    OVERRIDDEN,
    changed_jars,
    daemon_properties,
    parse_properties,
    recorded_jar_sha256,
)


def test_without_java_the_tests_skip_locally_and_fail_under_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no java on PATH"):
        kcl_daemon.require()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no java on PATH"):
        kcl_daemon.require()


def test_a_jar_with_another_digest_is_reported(tmp_path: Path) -> None:
    recorded = recorded_jar_sha256()
    assert set(recorded) == set(CHECKED_JARS)
    for name in CHECKED_JARS:
        (tmp_path / name).write_bytes(b"not the reviewed jar")
    changed = changed_jars(tmp_path)
    actual = hashlib.sha256(b"not the reviewed jar").hexdigest()
    assert changed == [
        f"{name}: sha256 {actual}, recorded {recorded[name]}" for name in CHECKED_JARS
    ]


def test_the_installed_jars_are_the_recorded_ones() -> None:
    if kcl_daemon.missing_requirement() is not None:
        kcl_daemon.require()  # skips, or fails under CI
    jars = kcl_daemon.kcl_jar_dir()
    assert jars is not None
    assert changed_jars(jars) == []


def test_the_daemon_runs_the_shipped_properties_with_only_the_listed_changes() -> None:
    shipped = parse_properties(DEPLOY_PROPERTIES.read_text())
    assert set(shipped) >= OVERRIDDEN
    assert not ADDED & set(shipped)
    overrides = dict.fromkeys(OVERRIDDEN | ADDED, "x")
    merged = parse_properties(daemon_properties(overrides))
    assert {k: v for k, v in merged.items() if k not in overrides} == {
        k: v for k, v in shipped.items() if k not in overrides
    }
    with pytest.raises(ValueError, match="unexpected property override initialPositionInStream"):
        daemon_properties({"initialPositionInStream": "LATEST"})
