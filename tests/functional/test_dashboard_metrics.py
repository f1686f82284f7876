"""The dashboard's EMF metric references match what the stream handler really publishes.

For every projection function of template.yaml, the real handler runs in a fresh process with
that function's environment (``POWERTOOLS_SERVICE_NAME`` and ``POWERTOOLS_METRICS_NAMESPACE``
as the template sets them, resolved offline like the dashboard body) and its EMF lines are
read back. Every (namespace, metric, dimensions) the dashboard names in the handler's namespace
must appear in that output, every batch metric the handler publishes must be on the dashboard
for that projection, and no two projections may share a dimension set (or the dashboard could
not tell them apart). No server is needed: the batch goes to SQLite and nothing is
dead-lettered.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.deploy_scripts import load_validator

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
DASHBOARD = "OperationsDashboard"
NAMESPACE = "QldbCdc"
# Published once per execution environment with the function name as a second dimension;
# not a per-projection batch metric, so the dashboard need not show it.
NOT_ON_DASHBOARD = {"ColdStart"}

MetricRef = tuple[str, str, frozenset[tuple[str, str]]]


def _load_validator() -> ModuleType:
    return load_validator()


@pytest.fixture(scope="module")
def validator() -> ModuleType:
    return _load_validator()


@pytest.fixture(scope="module")
def translated(validator: ModuleType) -> dict[str, Any]:
    report = validator.validate(TEMPLATE)
    assert report.findings == []
    result: dict[str, Any] = report.translated
    return result


def _all_enabled(validator: ModuleType, template: dict[str, Any]) -> dict[str, bool]:
    body = template["Resources"][DASHBOARD]["Properties"]["DashboardBody"]
    return dict.fromkeys(validator.conditions_named(body), True)


def _projection_functions(template: dict[str, Any]) -> list[str]:
    """The functions behind a Kinesis event source mapping (the stream consumers)."""
    names = {
        r["Properties"]["FunctionName"]["Ref"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
    }
    return sorted(names)


def dashboard_refs(body: dict[str, Any]) -> set[MetricRef]:
    """Every metric a metric widget of ``body`` names (full form: namespace, name, dims...)."""
    refs: set[MetricRef] = set()
    for widget in body["widgets"]:
        if widget["type"] != "metric":
            continue
        for metric in widget["properties"]["metrics"]:
            parts = [p for p in metric if isinstance(p, str)]
            assert "." not in parts, f"shorthand metric in {widget['properties']['title']}"
            namespace, name, *dims = parts
            pairs = frozenset(zip(dims[::2], dims[1::2], strict=True))
            refs.add((namespace, name, pairs))
    return refs


def emitted_refs(stdout: str) -> set[MetricRef]:
    """Every (namespace, metric, dimensions) the EMF documents in ``stdout`` publish."""
    refs: set[MetricRef] = set()
    for line in stdout.splitlines():
        document = json.loads(line)
        if "_aws" not in document:
            continue  # a log line
        for directive in document["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                pairs = frozenset((key, str(document[key])) for key in dimension_set)
                for metric in directive["Metrics"]:
                    assert metric["Name"] in document, metric
                    refs.add((directive["Namespace"], metric["Name"], pairs))
    return refs


class HandlerRuns:
    """Runs of the handler, one per distinct environment (memoised: each run is a process)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen: dict[frozenset[tuple[str, str]], set[MetricRef]] = {}

    def emf(self, variables: dict[str, str]) -> set[MetricRef]:
        """The EMF the handler publishes in a fresh process with ``variables`` (a function's
        environment as the template sets it)."""
        key = frozenset(variables.items())
        if key not in self.seen:
            self.seen[key] = self._run(variables, self.folder / f"run{len(self.seen)}.db")
        return self.seen[key]

    @staticmethod
    def _run(variables: dict[str, str], database: Path) -> set[MetricRef]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("POWERTOOLS_", "CDC_"))}
        env.update(variables)
        env.pop("CDC_TARGETS_SECRET_ARN", None)  # PostgreSQL's URI source; the driver sets one
        env.update(
            CDC_DEAD_LETTER_QUEUE_URL="https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
            AWS_DEFAULT_REGION="us-east-1",
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            PYTHONPATH=str(ROOT),
        )
        done = subprocess.run(
            [sys.executable, "-m", "tests.functional.dashboard_emf_driver", str(database)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return emitted_refs(done.stdout)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> HandlerRuns:
    return HandlerRuns(tmp_path_factory.mktemp("emf"))


def mismatches(validator: ModuleType, template: dict[str, Any], runs: HandlerRuns) -> list[str]:
    """What differs between the dashboard (every projection enabled) and the handler's EMF."""
    conditions = _all_enabled(validator, template)
    body = next(b for c, b in validator.dashboard_bodies(template, DASHBOARD) if c == conditions)
    on_dashboard = {ref for ref in dashboard_refs(body) if ref[0] == NAMESPACE}
    problems: list[str] = []
    published: dict[str, set[MetricRef]] = {}
    for name in _projection_functions(template):
        properties = template["Resources"][name]["Properties"]
        variables = validator.resolve(properties["Environment"]["Variables"], {}, template)
        if variables.get("POWERTOOLS_METRICS_NAMESPACE") != NAMESPACE:
            problems.append(f"{name}: POWERTOOLS_METRICS_NAMESPACE is not {NAMESPACE}")
        refs = {ref for ref in runs.emf(variables) if ref[1] not in NOT_ON_DASHBOARD}
        published[name] = refs
        problems += [
            f"{name} publishes {metric} {sorted(dims)}, not on the dashboard"
            for _, metric, dims in sorted(refs - on_dashboard)
        ]
    everything = set().union(*published.values())
    problems += [
        f"the dashboard shows {metric} {sorted(dims)}, which no projection function publishes"
        for _, metric, dims in sorted(on_dashboard - everything)
    ]
    names = sorted(published)
    for index, one in enumerate(names):
        for other in names[index + 1 :]:
            if {r[2] for r in published[one]} & {r[2] for r in published[other]}:
                problems.append(f"{one} and {other} publish the same dimensions")
    return problems


def test_dashboard_metrics_are_the_ones_each_projection_function_publishes(
    validator: ModuleType, translated: dict[str, Any], runs: HandlerRuns
) -> None:
    assert len(_projection_functions(translated)) == 4
    assert mismatches(validator, translated, runs) == []
    for refs in runs.seen.values():
        assert {ref[1] for ref in refs} >= {
            "Revisions",
            "Applied",
            "OldestRecordAge",
            "BatchErrors",
        }


def test_a_shared_service_name_is_caught(
    validator: ModuleType, translated: dict[str, Any], runs: HandlerRuns
) -> None:
    broken = copy.deepcopy(translated)
    variables = broken["Resources"]["S3ProjectionFunction"]["Properties"]["Environment"]
    del variables["Variables"]["POWERTOOLS_SERVICE_NAME"]  # back to the handler's default

    problems = mismatches(validator, broken, runs)

    assert any("S3ProjectionFunction publishes Applied" in p for p in problems), problems
    assert any("the dashboard shows Applied" in p and "qldb-cdc-s3" in p for p in problems)


def test_a_misspelt_dashboard_metric_is_caught(
    validator: ModuleType, translated: dict[str, Any], runs: HandlerRuns
) -> None:
    text = json.dumps(translated).replace('\\"Tombstones\\"', '\\"Tombstone\\"')
    assert text != json.dumps(translated)
    problems = mismatches(validator, json.loads(text), runs)

    assert any("the dashboard shows Tombstone " in p for p in problems), problems
    assert any("publishes Tombstones" in p for p in problems), problems
