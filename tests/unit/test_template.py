"""template.yaml: offline validation (SAM transform + cfn-lint) and the properties we rely on.

The validator runs the real SAM translator and cfn-lint, no AWS account needed. The assertions
below read the raw template (with CloudFormation short tags) and the translated one.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import cfnlint.decode  # type: ignore[import-untyped]
import pytest

from projections.dynamodb import CHECKPOINT_TABLE_SUFFIX
from tests.support.deploy_scripts import load_validator

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ASL = ROOT / "deploy" / "statemachine" / "replay.asl.json"

PROJECTION_FUNCTIONS = {
    "DynamoDBProjectionFunction": "dynamodb://",
    "S3ProjectionFunction": "s3://",
    "OpenSearchProjectionFunction": "opensearch+https://",
    "PostgresProjectionFunction": None,  # URI comes from Secrets Manager
}
# Statement Sid -> why it may use Resource "*" (mirrors the comment in template.yaml).
STAR_RESOURCE_EXCEPTIONS = {
    "PostgresVpcNetworkInterfaces": "Lambda VPC ENIs; DescribeNetworkInterfaces has no resource",
}


def _load_validator() -> ModuleType:
    return load_validator()


@pytest.fixture(scope="module")
def validator() -> ModuleType:
    return _load_validator()


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    decoded, matches = cfnlint.decode.decode_str(TEMPLATE.read_text(encoding="utf-8"))
    assert not matches, matches
    assert decoded is not None
    plain: dict[str, Any] = json.loads(json.dumps(decoded))
    return plain


@pytest.fixture(scope="module")
def translated(validator: ModuleType) -> dict[str, Any]:
    report = validator.validate(TEMPLATE)
    assert report.findings == []
    assert report.translated is not None
    result: dict[str, Any] = report.translated
    return result


def _resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in template["Resources"].items() if r["Type"] == kind}


def _branches(value: Any) -> Iterator[Any]:
    """Both outcomes of an Fn::If (AWS::NoValue dropped), or the value itself."""
    if isinstance(value, dict) and "Fn::If" in value:
        _, when_true, when_false = value["Fn::If"]
        for branch in (when_true, when_false):
            if branch != {"Ref": "AWS::NoValue"}:
                yield from _branches(branch)
    else:
        yield value


def _statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, role in _resources(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for item in policy["PolicyDocument"]["Statement"]:
                for statement in _branches(item):
                    yield name, statement
    for name, policy in _resources(template, "AWS::IAM::Policy").items():
        for item in policy["Properties"]["PolicyDocument"]["Statement"]:
            for statement in _branches(item):
                yield name, statement


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------- the validator


def test_template_validates_offline(translated: dict[str, Any]) -> None:
    # The fixture asserts that there are no findings; here: the transform really happened.
    assert _resources(translated, "AWS::Serverless::Function") == {}
    assert len(_resources(translated, "AWS::Lambda::Function")) == 6
    assert len(_resources(translated, "AWS::StepFunctions::StateMachine")) == 1


# (text in template.yaml, its broken replacement, what the validator must report)
BROKEN_EDITS = [
    ("StartingPosition: TRIM_HORIZON", "StartingPosition: SOMETIMES", "E3031"),
    ("Runtime: python3.12", "Runtime: python2.9", "E3030"),
    ("BatchSize: !Ref BatchSize", "BatchSize: lots", "SAM transform"),
    # the condition is what tells cfn-lint the ARN is never its empty default (a user's
    # `sam validate --lint` fails on W1030 without it; the validator filters nothing)
    (
        '    - !Not [!Equals [!Ref PostgresSecretArn, ""]]\n',
        '    - !Equals [!Ref EnablePostgres, "true"]\n',
        "W1030",
    ),
]


@pytest.mark.parametrize("edit", BROKEN_EDITS, ids=[e[2] for e in BROKEN_EDITS])
def test_validator_rejects_a_broken_template(
    validator: ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    edit: tuple[str, str, str],
) -> None:
    old, new, rule = edit
    text = TEMPLATE.read_text(encoding="utf-8")
    assert old in text
    broken = tmp_path / "template.yaml"
    broken.write_text(text.replace(old, new), encoding="utf-8")
    (tmp_path / "deploy" / "statemachine").mkdir(parents=True)
    (tmp_path / "deploy" / "statemachine" / ASL.name).write_bytes(ASL.read_bytes())

    assert validator.main([str(broken)]) == 1
    assert rule in capsys.readouterr().out


def test_validator_lints_the_state_machine_definition(
    validator: ModuleType, tmp_path: Path
) -> None:
    broken = tmp_path / "template.yaml"
    broken.write_bytes(TEMPLATE.read_bytes())
    (tmp_path / "deploy" / "statemachine").mkdir(parents=True)
    asl = ASL.read_text(encoding="utf-8").replace('"Type": "Map"', '"Type": "Mapp"')
    (tmp_path / "deploy" / "statemachine" / ASL.name).write_text(asl, encoding="utf-8")

    report = validator.validate(broken)

    assert any("E3601" in finding and "Mapp" in finding for finding in report.findings)


# ---------------------------------------------------------------- stream consumers


def test_every_kinesis_mapping_is_bounded_and_reports_partial_failures(
    translated: dict[str, Any],
) -> None:
    mappings = _resources(translated, "AWS::Lambda::EventSourceMapping")
    assert len(mappings) == len(PROJECTION_FUNCTIONS)
    params = translated["Parameters"]
    for name, mapping in mappings.items():
        props = mapping["Properties"]
        assert props["EventSourceArn"] == {"Fn::GetAtt": ["ChangeStream", "Arn"]}, name
        assert props["StartingPosition"] == "TRIM_HORIZON", name
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], name
        assert props["BisectBatchOnFunctionError"] is True, name
        assert props["DestinationConfig"]["OnFailure"]["Destination"] == {
            "Fn::GetAtt": ["StreamFailureQueue", "Arn"]
        }, name
        retries = params[props["MaximumRetryAttempts"]["Ref"]]
        assert retries["MinValue"] >= 0, name
        assert 0 <= int(retries["Default"]) <= retries["MaxValue"] <= 10000, name
        age = params[props["MaximumRecordAgeInSeconds"]["Ref"]]
        assert 60 <= age["MinValue"] <= int(age["Default"]) <= age["MaxValue"] <= 604800, name


def test_one_function_per_projection_each_with_its_own_mapping(
    raw: dict[str, Any], translated: dict[str, Any]
) -> None:
    functions = _resources(raw, "AWS::Serverless::Function")
    consumers = {n for n, f in functions.items() if f["Properties"].get("Events")}
    assert consumers == set(PROJECTION_FUNCTIONS)
    mapped = [
        m["Properties"]["FunctionName"]["Ref"]
        for m in _resources(translated, "AWS::Lambda::EventSourceMapping").values()
    ]
    assert sorted(mapped) == sorted(PROJECTION_FUNCTIONS)
    conditions = {functions[name].get("Condition") for name in PROJECTION_FUNCTIONS}
    assert conditions == {"DynamoDBEnabled", "S3Enabled", "OpenSearchEnabled", "PostgresEnabled"}
    for name, scheme in PROJECTION_FUNCTIONS.items():
        variables = functions[name]["Properties"]["Environment"]["Variables"]
        if scheme is None:
            assert variables["CDC_TARGETS_SECRET_ARN"] == {"Ref": "PostgresSecretArn"}
        else:
            target = variables["CDC_TARGETS"]["Fn::Sub"]
            assert target.startswith(scheme), name
            assert "," not in target, name


def test_every_function_gets_the_runtime_settings(translated: dict[str, Any]) -> None:
    required = {
        "CDC_DEAD_LETTER_QUEUE_URL",
        "CDC_VERIFY_HASHES",
        "CDC_LOG_LEVEL",
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
    }
    functions = _resources(translated, "AWS::Lambda::Function")
    for name, function in functions.items():
        props = function["Properties"]
        variables = set(props["Environment"]["Variables"])
        assert required <= variables, name
        # plan_handler opens no projection: only the functions that write targets get them.
        assert ("CDC_TARGETS" in variables) == (name != "ReplayPlanFunction"), name
        assert props["Runtime"] == "python3.12", name
        assert props["Architectures"] == ["x86_64"], name
        assert "LoggingConfig" in props, name


def test_handlers_point_at_functions_that_exist(raw: dict[str, Any]) -> None:
    handlers = {raw["Globals"]["Function"]["Handler"]}
    for function in _resources(raw, "AWS::Serverless::Function").values():
        handlers.add(function["Properties"].get("Handler", raw["Globals"]["Function"]["Handler"]))
    assert handlers == {
        "consumers.lambda_handler.handler",
        "consumers.replay_lambda.plan_handler",
        "consumers.replay_lambda.objects_handler",
    }
    for handler in sorted(handlers):
        module_name, _, attribute = handler.rpartition(".")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, attribute, None)), handler


# ---------------------------------------------------------------- storage and queues


def test_stream_is_encrypted(raw: dict[str, Any]) -> None:
    (stream,) = _resources(raw, "AWS::Kinesis::Stream").values()
    encryption = stream["Properties"]["StreamEncryption"]
    assert encryption == {"EncryptionType": "KMS", "KeyId": "alias/aws/kinesis"}


def test_buckets_are_private_encrypted_versioned_and_tls_only(raw: dict[str, Any]) -> None:
    buckets = _resources(raw, "AWS::S3::Bucket")
    assert set(buckets) == {"ProjectionBucket", "WorkBucket"}
    policies = {
        p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]
        for p in _resources(raw, "AWS::S3::BucketPolicy").values()
    }
    for name, bucket in buckets.items():
        props = bucket["Properties"]
        block = props["PublicAccessBlockConfiguration"]
        assert set(block) == {
            "BlockPublicAcls",
            "BlockPublicPolicy",
            "IgnorePublicAcls",
            "RestrictPublicBuckets",
        }, name
        assert all(value is True for value in block.values()), name
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in {"AES256", "aws:kms"}
        assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, name
        deny = [
            s
            for s in policies[name]["Statement"]
            if s["Effect"] == "Deny"
            and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        ]
        assert deny, f"{name} has no TLS-only policy"


def test_table_shape(raw: dict[str, Any]) -> None:
    props = raw["Resources"]["DocumentsTable"]["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    (index,) = props["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "byLedgerTable"
    assert index["KeySchema"] == [
        {"AttributeName": "ledgerTable", "KeyType": "HASH"},
        {"AttributeName": "pk", "KeyType": "RANGE"},
    ]
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}


def test_checkpoints_table_is_the_one_the_projection_derives(raw: dict[str, Any]) -> None:
    resource = raw["Resources"]["CheckpointsTable"]
    props = resource["Properties"]
    assert resource["Condition"] == "DynamoDBEnabled"
    assert resource["DeletionPolicy"] == "Retain"
    assert props["TableName"] == {"Fn::Sub": "${DocumentsTable}" + CHECKPOINT_TABLE_SUFFIX}
    assert props["KeySchema"] == [
        {"AttributeName": "exportId", "KeyType": "HASH"},
        {"AttributeName": "objectKey", "KeyType": "RANGE"},
    ]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"] == {"SSEEnabled": True}


def test_replay_reaches_the_checkpoints_table_and_nothing_scans(raw: dict[str, Any]) -> None:
    actions = [
        action
        for _, statement in _statements(raw)
        for action in _as_list(statement["Action"])
        if action.startswith("dynamodb:")
    ]
    assert "dynamodb:Scan" not in actions
    checkpoint_statements = [
        (role, statement)
        for role, statement in _statements(raw)
        if statement["Resource"] == {"Fn::GetAtt": ["CheckpointsTable", "Arn"]}
    ]
    assert [role for role, _ in checkpoint_statements] == ["ReplayObjectsRole"]
    ((_, statement),) = checkpoint_statements
    assert set(statement["Action"]) == {
        "dynamodb:DescribeTable",
        "dynamodb:PutItem",
        "dynamodb:Query",
    }


def test_queues_keep_messages_14_days_encrypted(raw: dict[str, Any]) -> None:
    queues = _resources(raw, "AWS::SQS::Queue")
    assert set(queues) == {"DeadLetterQueue", "StreamFailureQueue"}
    for name, queue in queues.items():
        assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600, name
        assert queue["Properties"]["SqsManagedSseEnabled"] is True, name


def test_opensearch_domain_is_locked_down(raw: dict[str, Any]) -> None:
    domain = raw["Resources"]["OpenSearchDomain"]
    assert domain["Condition"] == "OpenSearchEnabled"
    props = domain["Properties"]
    assert props["EncryptionAtRestOptions"] == {"Enabled": True}
    assert props["NodeToNodeEncryptionOptions"] == {"Enabled": True}
    assert props["DomainEndpointOptions"]["EnforceHTTPS"] is True
    (statement,) = props["AccessPolicies"]["Statement"]
    assert statement["Principal"]["AWS"] == [
        {"Fn::GetAtt": ["OpenSearchProjectionRole", "Arn"]},
        {"Fn::GetAtt": ["ReplayObjectsRole", "Arn"]},
    ]


def test_qldb_stream_is_optional_and_aggregated(raw: dict[str, Any]) -> None:
    stream = raw["Resources"]["QldbStream"]
    assert stream["Condition"] == "HasLedger"
    assert raw["Parameters"]["ExistingQldbLedgerName"]["Default"] == ""
    assert stream["Properties"]["KinesisConfiguration"] == {
        "StreamArn": {"Fn::GetAtt": ["ChangeStream", "Arn"]},
        "AggregationEnabled": True,
    }
    (statement,) = raw["Resources"]["QldbStreamRole"]["Properties"]["Policies"][0][
        "PolicyDocument"
    ]["Statement"]
    assert statement["Resource"] == {"Fn::GetAtt": ["ChangeStream", "Arn"]}


# ---------------------------------------------------------------- IAM


def test_no_wildcard_resources_except_documented_ones(translated: dict[str, Any]) -> None:
    seen_exceptions = set()
    statements = list(_statements(translated))
    assert len(statements) > 20
    for role, statement in statements:
        resources = _as_list(statement["Resource"])
        if "*" in resources:
            assert statement.get("Sid") in STAR_RESOURCE_EXCEPTIONS, (role, statement)
            assert all(action.startswith("ec2:") for action in statement["Action"])
            seen_exceptions.add(statement["Sid"])
        for action in _as_list(statement["Action"]):
            assert not action.endswith(":*"), (role, action)
    assert seen_exceptions == set(STAR_RESOURCE_EXCEPTIONS)


def test_lambda_roles_have_no_managed_policies(translated: dict[str, Any]) -> None:
    roles = _resources(translated, "AWS::IAM::Role")
    for name, function in _resources(translated, "AWS::Lambda::Function").items():
        role_name = function["Properties"]["Role"]["Fn::GetAtt"][0]
        assert not roles[role_name]["Properties"].get("ManagedPolicyArns"), name


def test_stream_consumers_read_only_this_stream(translated: dict[str, Any]) -> None:
    for role, statement in _statements(translated):
        actions = _as_list(statement["Action"])
        if any(action.startswith("kinesis:Get") for action in actions):
            assert statement["Resource"] == {"Fn::GetAtt": ["ChangeStream", "Arn"]}, role


# ---------------------------------------------------------------- distributed replay


def test_replay_state_machine_uses_a_distributed_map(raw: dict[str, Any]) -> None:
    asl = json.loads(ASL.read_text(encoding="utf-8"))
    plan = asl["States"]["Plan"]
    assert plan["Parameters"]["FunctionName"] == "${PlanFunctionArn}"
    replay = asl["States"]["ReplayObjects"]
    assert replay["Type"] == "Map"
    assert replay["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert replay["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert replay["ItemReader"]["ReaderConfig"] == {"InputType": "JSON"}
    assert replay["ToleratedFailurePercentage"] == 0
    assert replay["ResultWriter"]["Parameters"]["Bucket"] == "${WorkBucket}"
    assert "MaxItemsPerBatchPath" in replay["ItemBatcher"]
    assert "MaxConcurrencyPath" in replay
    task = replay["ItemProcessor"]["States"]["ReplayBatch"]
    assert task["Parameters"]["FunctionName"] == "${ObjectsFunctionArn}"
    retried = {e for r in task["Retry"] for e in r["ErrorEquals"]}
    assert {"Lambda.ServiceException", "Lambda.TooManyRequestsException"} <= retried
    assert all(r["BackoffRate"] > 1 for r in task["Retry"])

    machine = raw["Resources"]["ReplayStateMachine"]["Properties"]
    placeholders = set(re.findall(r"\$\{(\w+)\}", ASL.read_text(encoding="utf-8")))
    assert placeholders == set(machine["DefinitionSubstitutions"])
    assert machine["DefinitionSubstitutions"]["MaxItemsPerBatch"] == {
        "Ref": "ReplayMaxItemsPerBatch"
    }
    assert raw["Parameters"]["ReplayMaxItemsPerBatch"]["Default"] == 5
    assert raw["Parameters"]["ReplayMaxConcurrency"]["Default"] == 20


def test_replay_functions_are_sized_for_large_exports(raw: dict[str, Any]) -> None:
    for name in ("ReplayPlanFunction", "ReplayObjectsFunction"):
        props = raw["Resources"][name]["Properties"]
        assert props["Timeout"] == 900, name
        assert props["MemorySize"] == 2048, name
    variables = raw["Resources"]["ReplayObjectsFunction"]["Properties"]["Environment"]["Variables"]
    separator, items = variables["CDC_TARGETS"]["Fn::Join"]
    assert separator == ","
    # A disabled target must vanish (AWS::NoValue), never leave an empty entry.
    for item in items:
        assert item["Fn::If"][2] == {"Ref": "AWS::NoValue"}


def test_plan_function_gets_only_what_plan_handler_reads(raw: dict[str, Any]) -> None:
    props = raw["Resources"]["ReplayPlanFunction"]["Properties"]
    assert props["Environment"]["Variables"] == {"CDC_REPLAY_WORK_BUCKET": {"Ref": "WorkBucket"}}
    assert "VpcConfig" not in props


def test_replay_objects_function_can_dead_letter_poison(translated: dict[str, Any]) -> None:
    function = translated["Resources"]["ReplayObjectsFunction"]["Properties"]
    variables = function["Environment"]["Variables"]
    assert variables["CDC_DEAD_LETTER_QUEUE_URL"] == {"Ref": "DeadLetterQueue"}
    role = function["Role"]["Fn::GetAtt"][0]
    sends = [
        statement
        for name, statement in _statements(translated)
        if name == role and "sqs:SendMessage" in _as_list(statement["Action"])
    ]
    assert [s["Resource"] for s in sends] == [{"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}]


def test_verify_hashes_is_documented_as_stream_only(raw: dict[str, Any]) -> None:
    description = " ".join(raw["Parameters"]["VerifyHashes"]["Description"].split())
    assert "Stream consumers only" in description


def test_outputs(raw: dict[str, Any]) -> None:
    assert {
        "StreamArn",
        "StreamName",
        "DocumentsTableName",
        "CheckpointsTableName",
        "ProjectionBucketName",
        "DeadLetterQueueUrl",
        "ReplayStateMachineArn",
        "OpenSearchEndpoint",
    } <= set(raw["Outputs"])
    assert raw["Outputs"]["OpenSearchEndpoint"]["Condition"] == "OpenSearchEnabled"


def _retried(task: dict[str, Any]) -> set[str]:
    return {error for retrier in task["Retry"] for error in retrier["ErrorEquals"]}


def _asl() -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(ASL.read_text(encoding="utf-8"))
    return definition


def test_replay_retries_timeouts_and_every_retryable_handler_error() -> None:
    from core.errors import RetryableError, ThrottledError
    from replay.engine import TargetUnavailableError

    states = _asl()["States"]
    batch = states["ReplayObjects"]["ItemProcessor"]["States"]["ReplayBatch"]
    plan = states["Plan"]
    handler_errors = {
        RetryableError.__name__,
        ThrottledError.__name__,
        TargetUnavailableError.__name__,
    }
    # Step Functions matches the exception class name exactly, not its base classes.
    assert handler_errors | {"Sandbox.Timedout", "States.Timeout"} <= _retried(batch)
    assert handler_errors <= _retried(plan)
    retryable = _retryable_class_names()
    for task in (batch, plan):
        for name in _retried(task):
            if "." not in name:
                assert name in retryable, f"{name} is not a RetryableError class"
        assert "States.ALL" not in _retried(task)
        for retrier in task["Retry"]:
            assert retrier["MaxAttempts"] >= 1
            assert retrier["BackoffRate"] > 1


def _retryable_class_names() -> set[str]:
    import replay.engine  # noqa: F401 - defines RetryableError subclasses
    from core.errors import RetryableError

    names, pending = set(), [RetryableError]
    while pending:
        cls = pending.pop()
        names.add(cls.__name__)
        pending.extend(cls.__subclasses__())
    return names


def test_optional_execution_input_has_defaults() -> None:
    # Normalise merges the execution input over "defaults"; every field the Plan task reads
    # with "$.x" must exist afterwards, or an input such as {"bucket": "b"} fails with
    # States.Runtime. Only "bucket" is required.
    states = _asl()["States"]
    defaults = states["Defaults"]["Parameters"]["defaults"]
    assert states["Normalise"]["Parameters"] == {
        "request.$": "States.JsonMerge($.defaults, $.request, false)"
    }
    payload = states["Plan"]["Parameters"]["Payload"]
    read = {value.removeprefix("$.") for key, value in payload.items() if key.endswith(".$")}
    assert "prefix" in read
    assert read - {"bucket"} <= set(defaults)
    assert defaults["prefix"] == ""
    batch_input = states["ReplayObjects"]["ItemBatcher"]["BatchInput"]
    for key, value in batch_input.items():
        if key.endswith(".$") and value.startswith("$."):  # "$$.Execution.Id" is context
            assert value.removeprefix("$.") in defaults, key
