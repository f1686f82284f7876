"""Offline validation of the SAM template: SAM transform, then cfn-lint on both forms.

Usage::

    .venv/bin/python deploy/validate_template.py template.yaml

Exit status 0 when the template is valid, 1 with every finding printed otherwise. No AWS
credentials and no network are needed.

Guarantees:
    * The template goes through the real SAM translator (``samtranslator``), the same code
      ``sam validate`` and CloudFormation's ``AWS::Serverless`` transform run. Local ``CodeUri``
      values are replaced with ``s3://`` placeholders, and a local state machine
      ``DefinitionUri`` is inlined as ``Definition`` so its Amazon States Language is linted too
      (cfn-lint rule E3601).
    * cfn-lint runs on the translated CloudFormation (where errors inside ``Events`` and in
      values such as ``StartingPosition`` or ``Runtime`` become visible; cfn-lint alone does not
      run the transform) and on the raw template. Errors and warnings both fail; nothing is
      filtered but informational (``I``) findings. The only exceptions are the ones a resource
      states in its own ``Metadata: cfn-lint`` (with the reason), which `sam validate --lint`
      honours the same way, so this validator and a user's `sam validate --lint` agree on the
      raw template (CI runs both).
    * Every ``AWS::CloudWatch::Dashboard`` body resolves (Ref, Fn::GetAtt, Fn::Sub, Fn::Join,
      Fn::If evaluated offline, for every combination of the conditions it depends on) to JSON
      with a well-formed widget list; :func:`dashboard_bodies` gives the parsed bodies to tests
      and to ``deploy/render_dashboard.py``.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Neither package ships type information (no py.typed).
import cfnlint.api  # type: ignore[import-untyped]
import cfnlint.decode  # type: ignore[import-untyped]
from samtranslator.model.exceptions import (  # type: ignore[import-untyped]
    InvalidDocumentException,
)
from samtranslator.translator.transform import transform  # type: ignore[import-untyped]

REGION = "us-east-1"
PLACEHOLDER_BUCKET = "qldb-cdc-validate-placeholder"


Finding = str


class _NoManagedPolicies:
    """Stands in for SAM's ``ManagedPolicyLoader``: knows no managed policies, never calls IAM.

    The template gives every function an explicit role, so SAM has no managed policy name to
    resolve to an ARN; if it ever needs one, the translator reports the unknown name.
    """

    def load(self) -> dict[str, str]:
        """The managed policy name -> ARN map: empty."""
        return {}


@dataclass(frozen=True, slots=True)
class Report:
    """What one validation run found."""

    findings: list[Finding]
    translated: dict[str, Any] | None

    @property
    def ok(self) -> bool:
        """True when nothing was found."""
        return not self.findings


def _is_local(uri: object) -> bool:
    return isinstance(uri, str) and not uri.startswith("s3://")


def _to_plain(value: Any) -> Any:
    """cfn-lint's decoded nodes -> plain dicts, lists and strings (JSON round trip)."""
    return json.loads(json.dumps(value))


def _prepare_for_transform(
    template: dict[str, Any], base_dir: Path, findings: list[Finding]
) -> dict[str, Any]:
    """Replace local artefacts the way ``sam package`` would, without uploading anything."""
    prepared = copy.deepcopy(template)
    globals_fn = prepared.get("Globals", {}).get("Function", {})
    if _is_local(globals_fn.get("CodeUri")):
        globals_fn["CodeUri"] = f"s3://{PLACEHOLDER_BUCKET}/code.zip"
    for name, resource in prepared.get("Resources", {}).items():
        props = resource.get("Properties", {})
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function" and _is_local(props.get("CodeUri")):
            props["CodeUri"] = f"s3://{PLACEHOLDER_BUCKET}/{name}.zip"
        if kind == "AWS::Serverless::StateMachine" and _is_local(props.get("DefinitionUri")):
            path = base_dir / props.pop("DefinitionUri")
            try:
                props["Definition"] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as exc:
                findings.append(f"{name}: DefinitionUri {path}: {exc}")
                props["DefinitionUri"] = f"s3://{PLACEHOLDER_BUCKET}/{name}.asl.json"
    return prepared


def _expose_definitions(translated: dict[str, Any]) -> dict[str, Any]:
    """Turn SAM's ``DefinitionString`` (a Fn::Join of JSON lines) back into ``Definition``.

    cfn-lint checks Amazon States Language only in a ``Definition`` object, and CloudFormation
    accepts either property, so this keeps the deployed meaning and makes the ASL lintable.
    """
    exposed = copy.deepcopy(translated)
    for resource in exposed.get("Resources", {}).values():
        if resource.get("Type") != "AWS::StepFunctions::StateMachine":
            continue
        props = resource.get("Properties", {})
        joined = props.get("DefinitionString", {})
        if not isinstance(joined, dict) or "Fn::Join" not in joined:
            continue
        separator, parts = joined["Fn::Join"]
        if all(isinstance(part, str) for part in parts):
            props["Definition"] = json.loads(separator.join(parts))
            del props["DefinitionString"]
    return exposed


# ---------------------------------------------------------------- offline intrinsic functions

PSEUDO_PARAMETERS: dict[str, str] = {
    "AWS::Region": REGION,
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::StackName": "qldb-cdc",
    "AWS::URLSuffix": "amazonaws.com",
}
"""The pseudo parameters' stand-in values (the stack name is the README's)."""

MAX_CONDITION_COMBINATIONS = 64
"""A dashboard may depend on at most 6 conditions (every combination is checked)."""

_NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{(!?)([^}]*)\}")


class UnresolvedError(ValueError):
    """An intrinsic function the offline evaluator cannot resolve (a template mistake)."""


def stand_in(name: str, template: dict[str, Any]) -> str:
    """What ``Ref name`` stands for offline: a pseudo parameter's value, a parameter's default,
    or, for a resource, its logical id (the deployed physical name is not known offline)."""
    if name in PSEUDO_PARAMETERS:
        return PSEUDO_PARAMETERS[name]
    parameter = template.get("Parameters", {}).get(name)
    if parameter is not None:
        return str(parameter.get("Default", ""))
    if name in template.get("Resources", {}):
        return name
    msg = f"Ref to unknown name {name!r}"
    raise UnresolvedError(msg)


def _attribute(name: str, attribute: str, template: dict[str, Any]) -> str:
    if name not in template.get("Resources", {}):
        msg = f"Fn::GetAtt of unknown resource {name!r}"
        raise UnresolvedError(msg)
    return f"{name}.{attribute}"


def _substitute(text: str, variables: dict[str, Any], template: dict[str, Any]) -> str:
    def one(match: re.Match[str]) -> str:
        literal, name = match.groups()
        if literal:
            return "${" + name + "}"
        if name in variables:
            return str(variables[name])
        if "." in name and name not in PSEUDO_PARAMETERS:
            resource, attribute = name.split(".", 1)
            return _attribute(resource, attribute, template)
        return stand_in(name, template)

    return _SUB_VARIABLE.sub(one, text)


def resolve(value: Any, conditions: dict[str, bool], template: dict[str, Any]) -> Any:
    """``value`` with Ref, Fn::GetAtt, Fn::Sub, Fn::Join and Fn::If evaluated offline.

    ``conditions`` gives the truth of every condition an Fn::If names; AWS::NoValue drops the
    list item or key. Raises :class:`UnresolvedError` for anything else it meets.
    """
    if isinstance(value, list):
        items = [resolve(item, conditions, template) for item in value]
        return [item for item in items if item is not _NO_VALUE]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((key, argument),) = value.items()
        if key == "Ref":
            return _NO_VALUE if argument == "AWS::NoValue" else stand_in(argument, template)
        if key == "Fn::GetAtt":
            parts = argument.split(".", 1) if isinstance(argument, str) else argument
            return _attribute(parts[0], parts[1], template)
        if key == "Fn::If":
            name, when_true, when_false = argument
            if name not in conditions:
                msg = f"Fn::If on condition {name!r} with no given truth value"
                raise UnresolvedError(msg)
            return resolve(when_true if conditions[name] else when_false, conditions, template)
        if key == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument
            resolved = {k: resolve(v, conditions, template) for k, v in variables.items()}
            return _substitute(text, resolved, template)
        if key == "Fn::Join":
            separator, items = argument
            return separator.join(str(item) for item in resolve(items, conditions, template))
        if key.startswith("Fn::"):
            msg = f"{key} is not evaluated offline"
            raise UnresolvedError(msg)
    resolved = {k: resolve(v, conditions, template) for k, v in value.items()}
    return {k: v for k, v in resolved.items() if v is not _NO_VALUE}


def evaluate_condition(
    name: str, template: dict[str, Any], parameters: dict[str, str] | None = None
) -> bool:
    """The truth of condition ``name`` for ``parameters`` (missing ones take their default)."""
    values = {
        key: str(spec.get("Default", "")) for key, spec in template.get("Parameters", {}).items()
    }
    values.update(parameters or {})

    def operand(value: Any) -> Any:
        if isinstance(value, dict) and "Ref" in value:
            ref = value["Ref"]
            if ref in values:
                return values[ref]
            return stand_in(ref, template)
        if isinstance(value, dict) and "Fn::Join" in value:
            separator, items = value["Fn::Join"]
            if isinstance(items, dict):  # a Ref to a CommaDelimitedList parameter
                return separator.join(str(operand(items)).split(","))
            return separator.join(str(operand(item)) for item in items)
        return truth(value) if isinstance(value, dict) else value

    def truth(node: Any) -> bool:
        ((key, argument),) = node.items()
        if key == "Condition":
            return truth(template["Conditions"][argument])
        if key == "Fn::Equals":
            return bool(str(operand(argument[0])) == str(operand(argument[1])))
        if key == "Fn::Not":
            return not truth(argument[0])
        if key == "Fn::And":
            return all(truth(item) for item in argument)
        if key == "Fn::Or":
            return any(truth(item) for item in argument)
        msg = f"condition function {key} is not evaluated offline"
        raise UnresolvedError(msg)

    return truth(template["Conditions"][name])


def conditions_named(value: Any) -> set[str]:
    """Every condition an Fn::If inside ``value`` names."""
    if isinstance(value, list):
        return set().union(*(conditions_named(item) for item in value))
    if not isinstance(value, dict):
        return set()
    found = {value["Fn::If"][0]} if "Fn::If" in value else set()
    return found.union(*(conditions_named(item) for item in value.values()))


def condition_combinations(value: Any) -> list[dict[str, bool]]:
    """Every truth assignment of the conditions ``value`` depends on (bounded)."""
    names = sorted(conditions_named(value))
    if 2 ** len(names) > MAX_CONDITION_COMBINATIONS:
        msg = f"depends on {len(names)} conditions, more than the offline check enumerates"
        raise UnresolvedError(msg)
    return [
        {name: bool(bits >> index & 1) for index, name in enumerate(names)}
        for bits in range(2 ** len(names))
    ]


def dashboard_bodies(template: dict[str, Any], name: str) -> Iterator[tuple[dict[str, bool], Any]]:
    """Dashboard ``name``'s body, parsed, for every combination of its conditions.

    Raises :class:`UnresolvedError` when the body cannot be resolved, and
    ``json.JSONDecodeError`` when a resolved body is not JSON.
    """
    body = template["Resources"][name]["Properties"]["DashboardBody"]
    for conditions in condition_combinations(body):
        text = resolve(body, conditions, template)
        if not isinstance(text, str):
            msg = "DashboardBody does not resolve to a string"
            raise UnresolvedError(msg)
        yield conditions, json.loads(text)


def _widget_problems(body: Any) -> Iterator[str]:
    widgets = body.get("widgets") if isinstance(body, dict) else None
    if not isinstance(widgets, list) or not widgets:
        yield "no widgets list"
        return
    for index, widget in enumerate(widgets):
        properties = widget.get("properties") if isinstance(widget, dict) else None
        if not isinstance(properties, dict) or not isinstance(widget.get("type"), str):
            yield f"widget {index} has no type or properties"
            continue
        if widget["type"] == "metric":
            metrics = properties.get("metrics")
            if not isinstance(metrics, list) or not metrics or "region" not in properties:
                yield f"metric widget {index} has no metrics or no region"
            elif not all(isinstance(m, list) and len(m) >= 2 for m in metrics):
                yield f"metric widget {index} has a metric that is not a list"
        if not 1 <= int(widget.get("width", 6)) <= 24:
            yield f"widget {index} is wider than the 24-column grid"


def _check_dashboards(template: dict[str, Any]) -> Iterator[Finding]:
    """Every dashboard body is JSON with a well-formed widget list, whatever the conditions."""
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::CloudWatch::Dashboard":
            continue
        try:
            for conditions, body in dashboard_bodies(template, name):
                enabled = ", ".join(k for k, v in conditions.items() if v) or "none"
                for problem in _widget_problems(body):
                    yield f"{name}: DashboardBody ({enabled} true): {problem}"
        except (UnresolvedError, json.JSONDecodeError) as exc:
            yield f"{name}: DashboardBody: {exc}"


def _lint(text: str, label: str) -> Iterator[Finding]:
    config = cfnlint.api.ManualArgs(regions=[REGION])
    for match in cfnlint.api.lint(text, config=config):
        rule_id = match.rule.id
        path = "/".join(str(part) for part in match.path)
        if rule_id.startswith("I"):  # informational only; `sam validate --lint` ignores them too
            continue
        yield f"{label}: {rule_id} {match.message} (at {path}, line {match.linenumber})"


def validate(template_path: Path) -> Report:
    """Translate and lint ``template_path``; every problem becomes one finding line.

    Args:
        template_path: the SAM template (YAML or JSON, CloudFormation short tags allowed).

    Returns:
        The findings (empty when valid) and the translated CloudFormation template, or ``None``
        when the SAM transform itself failed.
    """
    findings: list[Finding] = []
    text = template_path.read_text(encoding="utf-8")
    decoded, decode_matches = cfnlint.decode.decode_str(text)
    findings.extend(f"decode: {m.rule.id} {m.message}" for m in decode_matches)
    if decoded is None:
        return Report(findings, None)

    findings.extend(_lint(text, "raw template"))

    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    prepared = _prepare_for_transform(_to_plain(decoded), template_path.parent, findings)
    try:
        translated: dict[str, Any] = transform(prepared, {}, _NoManagedPolicies())
    except InvalidDocumentException as exc:
        findings.extend(f"SAM transform: {cause.message}" for cause in exc.causes)
        return Report(findings, None)

    findings.extend(_check_dashboards(translated))
    lintable = json.dumps(_expose_definitions(translated), indent=1)
    findings.extend(_lint(lintable, "translated template"))
    return Report(findings, translated)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: print findings, return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("template", type=Path, nargs="?", default=Path("template.yaml"))
    parser.add_argument(
        "--write-translated", type=Path, help="also write the translated template (JSON) here"
    )
    args = parser.parse_args(argv)
    report = validate(args.template)
    if args.write_translated is not None and report.translated is not None:
        args.write_translated.write_text(json.dumps(report.translated, indent=2), encoding="utf-8")
    for finding in report.findings:
        print(finding)
    if report.ok:
        print(f"{args.template}: valid (SAM transform + cfn-lint, region {REGION})")
        return 0
    print(f"{args.template}: {len(report.findings)} finding(s)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
