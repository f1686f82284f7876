"""template.yaml's alarms, their notifications and the operations dashboard (issue 12 §2).

Read from the translated template (SAM functions become AWS::Lambda::Function, the event source
mappings become resources); conditions and intrinsic functions are evaluated offline by
deploy/validate_template.py, the same code that checks the dashboard body when validating.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.support.deploy_scripts import load_validator

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ASL = ROOT / "deploy" / "statemachine" / "replay.asl.json"
DASHBOARD = "OperationsDashboard"
HEADER = "# --- alarms and dashboard (issue 12 §2) ---"


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


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == kind}


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return _resources(template, "AWS::CloudWatch::Alarm")


def _alarm_on(
    template: dict[str, Any], namespace: str, metric: str, dimension: str, value: Any
) -> list[str]:
    """The alarms on ``namespace``/``metric`` with the one dimension ``dimension``=``value``."""
    return [
        name
        for name, alarm in _alarms(template).items()
        if alarm["Properties"]["Namespace"] == namespace
        and alarm["Properties"]["MetricName"] == metric
        and alarm["Properties"]["Dimensions"] == [{"Name": dimension, "Value": value}]
    ]


def _enabled(template: dict[str, Any], body_conditions: dict[str, bool], name: str) -> bool:
    condition = template["Resources"][name].get("Condition")
    return condition is None or body_conditions[condition]


# ---------------------------------------------------------------- alarms


def test_every_function_has_error_and_throttle_alarms_under_its_condition(
    translated: dict[str, Any],
) -> None:
    functions = _resources(translated, "AWS::Lambda::Function")
    assert len(functions) == 6
    for name, function in functions.items():
        for metric in ("Errors", "Throttles"):
            alarms = _alarm_on(translated, "AWS/Lambda", metric, "FunctionName", {"Ref": name})
            assert len(alarms) == 1, (name, metric)
            alarm = translated["Resources"][alarms[0]]
            assert alarm.get("Condition") == function.get("Condition"), alarms[0]
            assert alarm["Properties"]["Statistic"] == "Sum"


def test_every_event_source_mapping_has_an_iterator_age_alarm(
    translated: dict[str, Any],
) -> None:
    mappings = _resources(translated, "AWS::Lambda::EventSourceMapping")
    assert len(mappings) == 4
    for name, mapping in mappings.items():
        function = mapping["Properties"]["FunctionName"]  # {"Ref": <function>}
        alarms = _alarm_on(translated, "AWS/Lambda", "IteratorAge", "FunctionName", function)
        assert len(alarms) == 1, name
        alarm = translated["Resources"][alarms[0]]
        assert alarm.get("Condition") == mapping.get("Condition"), name
        props = alarm["Properties"]
        assert props["Statistic"] == "Maximum"
        assert props["Threshold"] == {"Ref": "AlarmIteratorAgeMilliseconds"}
        assert props["EvaluationPeriods"] == {"Ref": "AlarmIteratorAgeEvaluationPeriods"}


def test_iterator_age_threshold_is_below_the_record_age_limit(translated: dict[str, Any]) -> None:
    # The alarm must fire before records age out into the stream failure queue.
    params = translated["Parameters"]
    assert (
        params["AlarmIteratorAgeMilliseconds"]["Default"]
        < params["MaximumRecordAgeInSeconds"]["Default"] * 1000
    )


def test_every_queue_has_a_visible_messages_alarm(translated: dict[str, Any]) -> None:
    queues = _resources(translated, "AWS::SQS::Queue")
    assert set(queues) == {"DeadLetterQueue", "StreamFailureQueue"}
    for name in queues:
        value = {"Fn::GetAtt": [name, "QueueName"]}
        alarms = _alarm_on(
            translated, "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", value
        )
        assert len(alarms) == 1, name
        assert translated["Resources"][alarms[0]]["Properties"]["Threshold"] == {
            "Ref": "AlarmQueueMessagesThreshold"
        }


def test_every_state_machine_has_failed_and_timed_out_alarms(translated: dict[str, Any]) -> None:
    machines = _resources(translated, "AWS::StepFunctions::StateMachine")
    assert list(machines) == ["ReplayStateMachine"]
    for metric in ("ExecutionsFailed", "ExecutionsTimedOut"):
        alarms = _alarm_on(
            translated, "AWS/States", metric, "StateMachineArn", {"Ref": "ReplayStateMachine"}
        )
        assert len(alarms) == 1, metric


def test_thresholds_are_parameters_and_missing_data_is_not_an_alarm(
    translated: dict[str, Any],
) -> None:
    params = translated["Parameters"]
    alarms = _alarms(translated)
    assert len(alarms) == 20
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        threshold = props["Threshold"]["Ref"]
        assert params[threshold]["Type"] == "Number", name
        assert params[threshold]["Default"] >= 1, name
        assert props["Period"] == {"Ref": "AlarmPeriodSeconds"}, name
        assert props["TreatMissingData"] == "notBreaching", name
        assert props["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-"), name
        assert len(" ".join(props["AlarmDescription"].split())) > 40, name
    names = [a["Properties"]["AlarmName"]["Fn::Sub"] for a in alarms.values()]
    assert len(set(names)) == len(names)


NOTIFICATIONS = [
    ({}, [], set()),
    ({"AlarmEmail": "ops@example.com"}, ["AlarmEmailTopic"], {"AlarmEmailTopic"}),
    (
        {"AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:pager"},
        ["arn:aws:sns:us-east-1:123456789012:pager"],
        set(),
    ),
    (
        {
            "AlarmTopicArn": "arn:aws:sns:us-east-1:123456789012:pager",
            "AlarmEmail": "ops@example.com",
        },
        ["arn:aws:sns:us-east-1:123456789012:pager", "AlarmEmailTopic"],
        {"AlarmEmailTopic"},
    ),
]


@pytest.mark.parametrize(
    ("parameters", "actions", "topics"), NOTIFICATIONS, ids=["none", "email", "arn", "both"]
)
def test_notifications_follow_the_parameters(
    validator: ModuleType,
    translated: dict[str, Any],
    parameters: dict[str, str],
    actions: list[str],
    topics: set[str],
) -> None:
    truth = {
        name: validator.evaluate_condition(name, translated, parameters)
        for name in translated["Conditions"]
    }
    created = {
        name
        for name, resource in translated["Resources"].items()
        if resource.get("Condition") is None or truth[resource["Condition"]]
    }
    sns = {n for n in created if translated["Resources"][n]["Type"].startswith("AWS::SNS::")}
    assert sns == (topics | {"AlarmEmailSubscription"} if topics else set())
    resolve_with = {**dict(translated), "Parameters": _with_defaults(translated, parameters)}
    for name, alarm in _alarms(translated).items():
        props = validator.resolve(alarm["Properties"], truth, resolve_with)
        assert props["AlarmActions"] == actions, name
        assert props["OKActions"] == actions, name


def _with_defaults(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(json.dumps(template["Parameters"]))
    for key, value in parameters.items():
        out[key]["Default"] = value
    return out


def test_condition_evaluation_follows_the_parameters(
    validator: ModuleType, translated: dict[str, Any]
) -> None:
    # The evaluator the notification test relies on, on conditions whose answer is known.
    def truth(name: str, **parameters: str) -> bool:
        result: bool = validator.evaluate_condition(name, translated, parameters)
        return result

    assert truth("DynamoDBEnabled") and not truth("PostgresEnabled")
    secret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:pg-AbCdEf"
    assert not truth("PostgresEnabled", EnablePostgres="true")  # no secret: never deployable
    assert truth("PostgresEnabled", EnablePostgres="true", PostgresSecretArn=secret)
    assert not truth("PostgresInVpc", EnablePostgres="true", PostgresSecretArn=secret)
    assert truth(
        "PostgresInVpc",
        EnablePostgres="true",
        PostgresSecretArn=secret,
        PostgresSubnetIds="subnet-1,subnet-2",
    )
    assert not truth("PostgresInVpc", PostgresSubnetIds="subnet-1")
    assert truth("CreateQldbStreamRole", ExistingQldbLedgerName="ledger")
    assert not truth("CreateQldbStreamRole", ExistingQldbLedgerName="ledger", QldbStreamRoleArn="x")


def test_notification_parameters_reject_malformed_values(translated: dict[str, Any]) -> None:
    import re

    params = translated["Parameters"]
    arn = re.compile(params["AlarmTopicArn"]["AllowedPattern"])
    email = re.compile(params["AlarmEmail"]["AllowedPattern"])
    assert arn.fullmatch("") and email.fullmatch("")
    assert arn.fullmatch("arn:aws:sns:eu-west-1:123456789012:ops-alarms")
    assert not arn.fullmatch("arn:aws:sqs:eu-west-1:123456789012:queue")
    assert not arn.fullmatch("ops-alarms")
    assert email.fullmatch("ops+cdc@example.com")
    assert not email.fullmatch("ops at example.com")


# ---------------------------------------------------------------- dashboard


def _bodies(
    validator: ModuleType, template: dict[str, Any]
) -> Iterator[tuple[dict[str, bool], dict[str, Any]]]:
    yield from validator.dashboard_bodies(template, DASHBOARD)


def _metrics(body: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, str]]]:
    for widget in body["widgets"]:
        if widget["type"] == "metric":
            for metric in widget["properties"]["metrics"]:
                namespace, name, *dims = [p for p in metric if isinstance(p, str)]
                yield namespace, name, dict(zip(dims[::2], dims[1::2], strict=True))


def test_dashboard_body_is_json_for_every_combination_of_projections(
    validator: ModuleType, translated: dict[str, Any]
) -> None:
    combinations = list(_bodies(validator, translated))
    assert len(combinations) == 16
    projections = ("DynamoDB", "S3", "OpenSearch", "Postgres")
    for conditions, body in combinations:
        enabled = [p for p in projections if conditions[f"{p}Enabled"]]
        titles = [w["properties"].get("title", "") for w in body["widgets"]]
        rows = [t for t in titles if " projection: " in t]
        assert len(rows) == 3 * len(enabled), conditions
        assert "Kinesis change stream" in titles
        # the alarm widget lists exactly the alarms that exist under these conditions
        (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
        listed = {arn.removesuffix(".Arn") for arn in alarm_widget["properties"]["alarms"]}
        existing = {n for n in _alarms(translated) if _enabled(translated, conditions, n)}
        assert listed == existing, conditions
        # widgets are auto-placed: 24 columns filled exactly, row by row
        assert all("x" not in w and "y" not in w for w in body["widgets"])
        assert sum(w["width"] for w in body["widgets"]) % 24 == 0


def test_every_alarmed_metric_is_on_the_dashboard(
    validator: ModuleType, translated: dict[str, Any]
) -> None:
    everything = dict.fromkeys(
        validator.conditions_named(translated["Resources"][DASHBOARD]["Properties"]), True
    )
    body = next(b for c, b in _bodies(validator, translated) if c == everything)
    shown = {(ns, name, tuple(sorted(dims.items()))) for ns, name, dims in _metrics(body)}
    for name, alarm in _alarms(translated).items():
        metric = {k: alarm["Properties"][k] for k in ("Namespace", "MetricName", "Dimensions")}
        props = validator.resolve(metric, everything, translated)
        dims = tuple(sorted((d["Name"], d["Value"]) for d in props["Dimensions"]))
        assert (props["Namespace"], props["MetricName"], dims) in shown, name


def test_dashboard_dimensions_name_this_stacks_resources(
    validator: ModuleType, translated: dict[str, Any]
) -> None:
    everything = dict.fromkeys(
        validator.conditions_named(translated["Resources"][DASHBOARD]["Properties"]), True
    )
    body = next(b for c, b in _bodies(validator, translated) if c == everything)
    # the offline stand-in of Ref <resource> is its logical id, of GetAtt <r>.<a> "<r>.<a>"
    expected_kind = {
        "FunctionName": ("AWS::Lambda::Function", ""),
        "QueueName": ("AWS::SQS::Queue", ".QueueName"),
        "StreamName": ("AWS::Kinesis::Stream", ""),
        "StateMachineArn": ("AWS::StepFunctions::StateMachine", ""),
    }
    seen = set()
    for namespace, name, dims in _metrics(body):
        for key, value in dims.items():
            if key == "service":
                assert namespace == "QldbCdc", name
                continue
            kind, suffix = expected_kind[key]
            resource = value.removesuffix(suffix)
            assert value.endswith(suffix), (name, value)
            assert translated["Resources"][resource]["Type"] == kind, (name, value)
            seen.add(kind)
    assert seen == {kind for kind, _ in expected_kind.values()}


def test_validator_rejects_a_dashboard_body_that_is_not_json(
    validator: ModuleType, tmp_path: Path
) -> None:
    text = TEMPLATE.read_text(encoding="utf-8")
    broken_json = '"title": "Kinesis change stream",'
    assert text.count(broken_json) == 1
    broken = tmp_path / "template.yaml"
    broken.write_text(text.replace(broken_json, '"title": "Kinesis change stream"'))
    (tmp_path / "deploy" / "statemachine").mkdir(parents=True)
    (tmp_path / "deploy" / "statemachine" / ASL.name).write_bytes(ASL.read_bytes())

    findings = validator.validate(broken).findings

    assert any(f.startswith(f"{DASHBOARD}: DashboardBody: Expecting") for f in findings), findings


def test_validator_rejects_a_metric_widget_without_metrics(validator: ModuleType) -> None:
    template = {
        "Parameters": {},
        "Resources": {
            "Board": {
                "Type": "AWS::CloudWatch::Dashboard",
                "Properties": {
                    "DashboardBody": {
                        "Fn::Join": [
                            "",
                            [
                                '{"widgets": [{"type": "text", "properties": {"markdown": "x"}}',
                                {
                                    "Fn::If": [
                                        "Extra",
                                        ', {"type": "metric", "properties": {"metrics": []}}',
                                        "",
                                    ]
                                },
                                "]}",
                            ],
                        ]
                    }
                },
            }
        },
    }
    findings = list(validator._check_dashboards(template))
    assert findings == [
        "Board: DashboardBody (Extra true): metric widget 1 has no metrics or no region"
    ]


def test_template_additions_are_one_headed_block_per_section() -> None:
    # Other changes to template.yaml merge around these blocks: keep each one contiguous.
    text = TEMPLATE.read_text(encoding="utf-8")
    assert text.count(HEADER) == 4
    sections = [line for line in text.splitlines() if line and not line[0].isspace()]
    order = [s.rstrip(":") for s in sections if s.rstrip(":") in {"Parameters", "Conditions"}]
    assert order == ["Parameters", "Conditions"]
