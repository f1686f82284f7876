"""The example MultiLangDaemon properties file says what it means to the KCL 2.x/3.x daemon."""

from __future__ import annotations

from tests.support.captures import REPO_ROOT

PROPERTIES = REPO_ROOT / "deploy" / "kcl" / "qldb-cdc.properties"
POLLING_PROPERTIES = {
    "maxRecords",
    "idleTimeBetweenReadsInMillis",
    "retryGetRecordsInSeconds",
    "maxGetRecordsThreadPool",
    "millisBehindLatestThresholdForReducedTps",
}
"""What ``PollingConfigBean.anyPropertiesSet`` looks at (amazon-kinesis-client-multilang)."""


def settings() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in PROPERTIES.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def test_retrieval_mode_is_explicit_and_matches_the_polling_properties() -> None:
    values = settings()
    mode = values["retrievalMode"].upper()
    assert mode in {"POLLING", "FANOUT"}  # never DEFAULT: it depends on the other properties
    polling = POLLING_PROPERTIES & values.keys()
    assert polling if mode == "POLLING" else not polling


def test_no_property_that_kcl_2_and_3_ignore() -> None:
    assert "validateSequenceNumberBeforeCheckpointing" not in settings()


def test_the_processor_runs_from_the_venv_the_install_steps_create() -> None:
    readme = (REPO_ROOT / "deploy" / "kcl" / "README.md").read_text()
    interpreter = settings()["executableName"].split()[0]
    assert interpreter == "/opt/qldb-cdc/.venv/bin/python"
    assert "python3.11 -m venv /opt/qldb-cdc/.venv" in readme
    assert "cd /opt/qldb-cdc/src" not in readme
