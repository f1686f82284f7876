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
"""

from __future__ import annotations

import argparse
import copy
import json
import os
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
