"""The Lambda package: what deploy/lambda/Makefile installs and copies, and its checker.

``sam build`` itself runs in CI (``.ci/sam-check.sh``); these tests keep the pieces it uses
consistent with pyproject.toml and template.yaml, and show that ``check_package.py`` catches
what it claims to (an oversized package, a wheel for another Python, a missing requirement, a
handler that does not import from the package alone).
"""

from __future__ import annotations

import json
import re
import sys
import sysconfig
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import cfnlint.decode  # type: ignore[import-untyped]
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.deploy_scripts import load_script

ROOT = Path(__file__).resolve().parents[2]
LAMBDA = ROOT / "deploy" / "lambda"
HERE = sys.version_info[:2]


def _load_checker() -> ModuleType:
    return load_script(LAMBDA / "check_package.py")


@pytest.fixture(scope="module")
def checker() -> ModuleType:
    return _load_checker()


def _pins() -> dict[str, Requirement]:
    lines = (LAMBDA / "requirements.txt").read_text(encoding="utf-8").splitlines()
    pins = [Requirement(line) for line in lines if line.strip() and not line.startswith("#")]
    return {canonicalize_name(pin.name): pin for pin in pins}


def _make_variable(name: str) -> list[str]:
    text = (LAMBDA / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    match = re.search(rf"^{name} \??:?= (.*)$", text, re.MULTILINE)
    assert match is not None, name
    return match.group(1).split()


def _template() -> dict[str, Any]:
    decoded, matches = cfnlint.decode.decode_str((ROOT / "template.yaml").read_text("utf-8"))
    assert not matches
    plain: dict[str, Any] = json.loads(json.dumps(decoded))
    return plain


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: resource
        for name, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


# ---------------------------------------------------------------- what the Makefile installs


def test_every_runtime_dependency_is_pinned_within_pyproject() -> None:
    pins = _pins()
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for line in dependencies:
        wanted = Requirement(line)
        pin = pins.get(canonicalize_name(wanted.name))
        assert pin is not None, f"{wanted.name} is not in deploy/lambda/requirements.txt"
        assert pin.extras == wanted.extras, wanted.name
        (version,) = (spec.version for spec in pin.specifier)
        assert wanted.specifier.contains(version), f"{pin} is outside {line}"


def test_every_lambda_requirement_is_an_exact_pin_and_numpy_and_grpc_stay_out(
    checker: ModuleType,
) -> None:
    pins = _pins()
    assert len(pins) >= 15
    for pin in pins.values():
        assert [spec.operator for spec in pin.specifier] == ["=="], pin
        assert pin.marker is None, pin
    left_out = {"numpy", "jsonconversion", "grpcio", "opensearch-protobufs", "protobuf"}
    assert not left_out & set(pins)
    assert set(checker.LEFT_OUT) <= left_out


def test_the_root_requirements_file_is_gone() -> None:
    """SAM reads deploy/lambda/requirements.txt now; a second list would drift."""
    assert not (ROOT / "requirements.txt").exists()


# ---------------------------------------------------------------- template.yaml <-> Makefile


def test_every_function_is_built_by_the_makefile() -> None:
    functions = _functions(_template())
    assert len(functions) == 6
    for name, resource in functions.items():
        assert resource.get("Metadata", {}).get("BuildMethod") == "makefile", name
        assert resource["Metadata"].get("ContextPath") == "deploy/lambda", name
    assert set(_make_variable("FUNCTIONS")) == set(functions)


def test_the_makefile_builds_for_the_template_runtime() -> None:
    template = _template()
    runtime = template["Globals"]["Function"]["Runtime"]
    overridden = [r for r in _functions(template).values() if "Runtime" in r["Properties"]]
    assert overridden == []  # one runtime, one Makefile default
    assert [f"python{v}" for v in _make_variable("LAMBDA_PYTHON_VERSION ?")] == [runtime]
    assert template["Globals"]["Function"]["Architectures"] == ["x86_64"]
    assert all(p.endswith("_x86_64") for p in _make_variable("PLATFORMS"))


def test_the_package_holds_the_project_packages_and_nothing_else(checker: ModuleType) -> None:
    include = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"
    ]["find"]["include"]
    project = {pattern.rstrip("*") for pattern in include}
    assert set(_make_variable("PACKAGES")) == project == set(checker.PROJECT_PACKAGES)
    assert not {"tests", "bench", "docs", "deploy"} & project


# ---------------------------------------------------------------- check_package.py


@pytest.mark.parametrize(
    ("tag", "python", "ok"),
    [
        ("py3-none-any", (3, 12), True),
        ("py2-none-any", (3, 12), False),
        ("cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64", (3, 12), True),
        ("cp311-cp311-manylinux_2_17_x86_64", (3, 12), False),
        ("cp312-cp312-manylinux_2_17_aarch64", (3, 12), False),
        ("cp312-cp312-macosx_11_0_arm64", (3, 12), False),
        ("cp38-abi3-manylinux_2_28_x86_64", (3, 12), True),
        ("cp313-abi3-manylinux_2_28_x86_64", (3, 12), False),
        ("cp312-cp312-musllinux_1_2_x86_64", (3, 12), False),
    ],
)
def test_wheel_tags(checker: ModuleType, tag: str, python: tuple[int, int], ok: bool) -> None:
    assert checker.wheel_tag_ok(tag, python) is ok


def _dist(folder: Path, name: str, tags: list[str], requires: list[str]) -> None:
    info = folder / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    metadata = [f"Name: {name}", "Version: 1.0", *(f"Requires-Dist: {r}" for r in requires)]
    (info / "METADATA").write_text("\n".join(metadata) + "\n", encoding="utf-8")
    wheel = ["Wheel-Version: 1.0", *(f"Tag: {tag}" for tag in tags)]
    (info / "WHEEL").write_text("\n".join(wheel) + "\n", encoding="utf-8")


def test_distribution_findings(checker: ModuleType, tmp_path: Path) -> None:
    _dist(tmp_path, "ok_pure", ["py2-none-any", "py3-none-any"], ["helper>=1"])
    _dist(tmp_path, "helper", ["py3-none-any"], ['pywin32; sys_platform == "win32"'])
    _dist(tmp_path, "amazon_ion", ["cp312-cp312-manylinux_2_28_x86_64"], ["jsonconversion"])
    _dist(tmp_path, "wrong_python", ["cp311-cp311-manylinux_2_28_x86_64"], [])
    _dist(tmp_path, "needs_more", ["py3-none-any"], ["absent==2", 'extra_only; extra == "x"'])

    findings = checker.distribution_findings(tmp_path, (3, 12))

    assert len(findings) == 2, findings
    assert "wrong_python" in findings[0]
    assert "cp311" in findings[0]
    assert findings[1].startswith("needs-more requires absent==2")


def _function(checker: ModuleType, folder: Path, python: tuple[int, int] = HERE) -> Any:
    return checker.Function("Fn", folder, "consumers.lambda_handler.handler", python)


def test_an_oversized_package_or_one_with_tests_fails(checker: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    with (tmp_path / "big.bin").open("wb") as big:
        big.truncate(checker.LIMIT_BYTES)  # sparse: its size counts, no disk is used

    result = checker.check(_function(checker, tmp_path, (3, 99)), [])

    assert result.size_bytes >= checker.LIMIT_BYTES
    assert result.imported is False  # a package for another Python is not imported here
    assert any("MB unzipped: the limit is 100 MB" in f for f in result.findings)
    assert "tests/ is in the package" in result.findings


def test_a_package_without_its_dependencies_does_not_import(
    checker: ModuleType, tmp_path: Path
) -> None:
    for package in checker.PROJECT_PACKAGES:
        (tmp_path / package).symlink_to(ROOT / package, target_is_directory=True)

    result = checker.check(_function(checker, tmp_path), ["consumers.lambda_handler.handler"])

    assert result.imported is True
    (finding,) = result.findings
    assert finding.startswith("importing from the package failed: ModuleNotFoundError")


def _site_packages_entries(top_level: set[str]) -> list[Path]:
    site = Path(sysconfig.get_paths()["purelib"])
    return [p for p in site.iterdir() if p.name.split(".")[0] in top_level]  # *.libs included


def test_a_complete_package_imports_every_handler_from_itself_alone(
    checker: ModuleType, tmp_path: Path
) -> None:
    """The development venv's copies of the pinned distributions stand in for the wheels."""
    for package in checker.PROJECT_PACKAGES:
        (tmp_path / package).symlink_to(ROOT / package, target_is_directory=True)
    needed = {
        "amazon", "boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3",
        "psycopg", "psycopg_binary", "typing_extensions", "opensearchpy", "requests", "certifi",
        "charset_normalizer", "idna", "events", "aws_lambda_powertools", "orjson",
    }  # fmt: skip
    for entry in _site_packages_entries(needed):
        (tmp_path / entry.name).symlink_to(entry, target_is_directory=entry.is_dir())
    handlers = sorted(
        {
            r.get("Properties", {}).get("Handler", "consumers.lambda_handler.handler")
            for r in _functions(_template()).values()
        }
    )
    assert len(handlers) == 3

    good = checker.import_findings(_function(checker, tmp_path), handlers, ("consumers",))
    missing = checker.import_findings(
        _function(checker, tmp_path), [*handlers, "consumers.replay_lambda.no_such"], ()
    )

    assert good == []
    assert missing == ["handler consumers.replay_lambda.no_such is not a callable"]


def test_the_command_says_in_one_line_when_there_is_no_build(
    checker: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert checker.main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"{tmp_path}/template.yaml does not exist: run `sam build` first"
