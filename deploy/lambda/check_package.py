"""Check the Lambda packages ``sam build`` made: size, wheels, requirements, and that they import.

Usage::

    sam build && .venv/bin/python deploy/lambda/check_package.py [.aws-sam/build]

For every ``AWS::Serverless::Function`` of the built template (``<build folder>/template.yaml``)
it prints the package's unzipped size and checks:

* the size is below :data:`LIMIT_BYTES` (100 MB; Lambda's hard limit is 250 MB unzipped, layers
  included);
* the package holds none of :data:`NOT_SHIPPED` (tests, benchmarks, docs, numpy, gRPC);
* every installed distribution is a wheel for the function's runtime: pure Python, or CPython of
  the runtime's version on manylinux x86_64 (``.dist-info/WHEEL``);
* every requirement of every installed distribution (``Requires-Dist``, markers evaluated for the
  runtime) is installed, except the ones :data:`LEFT_OUT` names with their reason;
* when the runtime's Python is the Python running this script: every handler, and every module of
  the project's packages, imports in a fresh interpreter (``-I -S -B``: only the package folder and
  the standard library on ``sys.path``), amazon-ion's C extension and psycopg's binary
  implementation are in use, and no module comes from anywhere else. Packages for another Python
  cannot be imported here: the check says it skipped this, and ``--require-import`` (CI) makes
  that a failure.

Exit status: 0 when every package passes, 1 with every finding printed, 2 when there is no built
template (one line: run ``sam build`` first).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path
from typing import Any

# Neither package ships type information for these modules.
import cfnlint.decode  # type: ignore[import-untyped]
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

LIMIT_BYTES = 100_000_000

# Requirements of installed distributions that the package leaves out on purpose.
LEFT_OUT: dict[str, str] = {
    "jsonconversion": "amazon-ion imports it only in amazon.ion.json_encoder, which nothing imports"
    " (and it pulls numpy, which has no wheel for the platform tags SAM resolves)",
    "grpcio": "opensearch-py uses it only for its gRPC transport; the projection talks HTTP",
    "opensearch-protobufs": "opensearch-py uses it only for its gRPC transport",
}
# Top-level names a package must not contain.
NOT_SHIPPED = ("tests", "bench", "docs", ".venv", "numpy", "grpc", "jsonconversion")
# The project's packages (pyproject.toml [tool.setuptools.packages.find]); every module imports.
PROJECT_PACKAGES = (
    "core",
    "schemas",
    "changes",
    "verification",
    "simulation",
    "projections",
    "runtime",
    "dead_letters",
    "exports",
    "replay",
    "stream",
    "consumers",
)
_MANYLINUX_X86_64 = re.compile(r"^(manylinux\d+|manylinux_\d+_\d+)_x86_64$")
_RUNTIME = re.compile(r"^python(\d+)\.(\d+)$")

# Runs in the fresh interpreter: argv = [folder, handlers as JSON, packages as JSON].
_IMPORT_PROBE = r"""
import importlib, json, pkgutil, sys, sysconfig
folder, handlers, packages = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
sys.path.insert(0, folder)
problems = []
for handler in handlers:
    module, _, attribute = handler.rpartition(".")
    if not callable(getattr(importlib.import_module(module), attribute, None)):
        problems.append(f"handler {handler} is not a callable")
for package in packages:
    for info in pkgutil.walk_packages([f"{folder}/{package}"], prefix=package + "."):
        importlib.import_module(info.name)
import amazon.ion.simpleion
if not amazon.ion.simpleion.c_ext:
    problems.append("amazon-ion's C extension is not in use (amazon._ioncmodule did not import)")
import psycopg
if psycopg.pq.__impl__ != "binary":
    problems.append(f"psycopg uses its {psycopg.pq.__impl__} implementation, not binary")
import opensearchpy
opensearchpy.OpenSearch(hosts=["https://opensearch.invalid:443"])
paths = sysconfig.get_paths()
allowed = (folder + "/", paths["stdlib"] + "/", paths["platstdlib"] + "/")
for name, module in sorted(sys.modules.items()):
    origin = getattr(module, "__file__", None)
    if origin and not origin.startswith(allowed):
        problems.append(f"module {name} came from {origin}, outside the package")
print(json.dumps({"problems": problems, "modules": len(sys.modules)}))
"""


class UsageError(Exception):
    """The command was run where there is nothing to check."""


@dataclass(frozen=True, slots=True)
class Function:
    """One function of the built template."""

    name: str
    folder: Path
    handler: str
    python: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Result:
    """What checking one function's package found."""

    function: Function
    size_bytes: int
    findings: list[str]
    imported: bool


def built_functions(build_dir: Path) -> list[Function]:
    """The functions of ``build_dir/template.yaml`` (Globals applied), in template order."""
    template_path = build_dir / "template.yaml"
    if not template_path.is_file():
        msg = f"{template_path} does not exist: run `sam build` first"
        raise UsageError(msg)
    decoded, matches = cfnlint.decode.decode_str(template_path.read_text(encoding="utf-8"))
    if decoded is None:
        msg = f"{template_path}: cannot be read: {matches[0].message if matches else '?'}"
        raise UsageError(msg)
    template: dict[str, Any] = json.loads(json.dumps(decoded))
    defaults = template.get("Globals", {}).get("Function", {})
    functions = []
    for name, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = {**defaults, **resource.get("Properties", {})}
        runtime = _RUNTIME.match(str(props.get("Runtime", "")))
        if runtime is None:
            msg = f"{name}: Runtime {props.get('Runtime')!r} is not a pythonX.Y runtime"
            raise UsageError(msg)
        python = (int(runtime.group(1)), int(runtime.group(2)))
        folder = build_dir / str(props.get("CodeUri", name))
        functions.append(Function(name, folder, str(props.get("Handler", "")), python))
    if not functions:
        msg = f"{template_path} has no AWS::Serverless::Function"
        raise UsageError(msg)
    return functions


def unzipped_size(folder: Path) -> int:
    """Bytes of every regular file under ``folder`` (what Lambda counts, unzipped)."""
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _distributions(folder: Path) -> Iterator[tuple[Path, dict[str, list[str]]]]:
    for dist_info in sorted(folder.glob("*.dist-info")):
        fields: dict[str, list[str]] = {}
        for file_name in ("METADATA", "WHEEL"):
            path = dist_info / file_name
            if not path.is_file():
                fields.setdefault("missing", []).append(file_name)
                continue
            message = Parser().parsestr(path.read_text(encoding="utf-8"), headersonly=True)
            for key, value in message.items():
                fields.setdefault(key, []).append(value)
        yield dist_info, fields


def wheel_tag_ok(tag: str, python: tuple[int, int]) -> bool:
    """True for a pure-Python tag or a CPython ``python`` tag on manylinux x86_64."""
    parts = tag.split("-")
    if len(parts) != 3:
        return False
    interpreters, abis, platforms = (part.split(".") for part in parts)
    cp = f"cp{python[0]}{python[1]}"
    if platforms == ["any"]:
        return abis == ["none"] and any(
            i in {"py3", f"py{python[0]}{python[1]}"} for i in interpreters
        )
    if not all(_MANYLINUX_X86_64.match(p) for p in platforms):
        return False
    if cp in interpreters and cp in abis:
        return True
    # abi3: built for an older CPython 3, loads on every later one
    return "abi3" in abis and any(
        i.startswith("cp3") and i[2:].isdigit() and int(i[3:] or 0) <= python[1]
        for i in interpreters
    )


def _marker_environment(python: tuple[int, int]) -> dict[str, str]:
    """PEP 508 marker values of the Lambda runtime (CPython ``python`` on Linux x86_64)."""
    version = f"{python[0]}.{python[1]}"
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{version}.0",
        "os_name": "posix",
        "platform_machine": "x86_64",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{version}.0",
        "platform_python_implementation": "CPython",
        "python_version": version,
        "sys_platform": "linux",
        "extra": "",
    }


def distribution_findings(folder: Path, python: tuple[int, int]) -> list[str]:
    """Wheels not for the runtime, and requirements nothing installed (:data:`LEFT_OUT` aside)."""
    findings: list[str] = []
    installed: dict[str, list[str]] = {}
    for dist_info, fields in _distributions(folder):
        if "missing" in fields:
            findings.append(f"{dist_info.name}: no {', '.join(fields['missing'])}")
            continue
        name = canonicalize_name(fields.get("Name", [dist_info.name])[0])
        installed[name] = fields.get("Requires-Dist", [])
        tags = fields.get("Tag", [])
        if not any(wheel_tag_ok(tag, python) for tag in tags):  # a wheel installs if one matches
            findings.append(
                f"{dist_info.name}: no wheel tag ({', '.join(tags) or 'none'}) is for"
                f" python{python[0]}.{python[1]} on manylinux x86_64"
            )
    environment = _marker_environment(python)
    for dist_name, requires in sorted(installed.items()):
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue
            needed = canonicalize_name(requirement.name)
            if needed not in installed and needed not in LEFT_OUT:
                findings.append(f"{dist_name} requires {line.strip()}, which is not in the package")
    return findings


def import_findings(
    function: Function, handlers: list[str], packages: tuple[str, ...]
) -> list[str]:
    """Import ``handlers`` and every module of ``packages`` from the package folder alone.

    Every function's package holds the same code, so each is checked against every handler.
    """
    completed = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-B",  # writes no __pycache__ into the package
            "-c",
            _IMPORT_PROBE,
            str(function.folder.resolve()),
            json.dumps(handlers),
            json.dumps(packages),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=function.folder,
        timeout=120,
    )
    if completed.returncode != 0:
        last = (completed.stderr.strip().splitlines() or ["(no output)"])[-1]
        return [f"importing from the package failed: {last}"]
    problems: list[str] = json.loads(completed.stdout.strip().splitlines()[-1])["problems"]
    return problems


def check(
    function: Function, handlers: list[str], *, packages: tuple[str, ...] = PROJECT_PACKAGES
) -> Result:
    """Every check of one function's package (see the module docstring)."""
    if not function.folder.is_dir():
        return Result(function, 0, [f"{function.folder} is not a folder"], imported=False)
    size = unzipped_size(function.folder)
    findings = []
    if size >= LIMIT_BYTES:
        findings.append(f"{size / 1e6:.1f} MB unzipped: the limit is {LIMIT_BYTES / 1e6:.0f} MB")
    findings.extend(
        f"{name}/ is in the package" for name in NOT_SHIPPED if (function.folder / name).exists()
    )
    findings.extend(distribution_findings(function.folder, function.python))
    imported = sys.version_info[:2] == function.python
    if imported:
        findings.extend(import_findings(function, handlers, packages))
    return Result(function, size, findings, imported)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point: one line per package, the findings, the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("build_dir", type=Path, nargs="?", default=Path(".aws-sam/build"))
    parser.add_argument(
        "--require-import",
        action="store_true",
        help="fail when a package is for another Python than this one (its import is not checked)",
    )
    parser.add_argument(
        "--function",
        action="append",
        default=[],
        help="check only this function (repeatable; `sam build <function>` built only it)",
    )
    args = parser.parse_args(argv)
    try:
        every = built_functions(args.build_dir)
    except UsageError as exc:
        print(exc, file=sys.stderr)
        return 2
    unknown = sorted(set(args.function) - {f.name for f in every})
    if unknown:
        print(
            f"no function {', '.join(unknown)} in {args.build_dir}/template.yaml", file=sys.stderr
        )
        return 2
    functions = [f for f in every if not args.function or f.name in args.function]
    handlers = sorted({f.handler for f in every})
    failed = 0
    for function in functions:
        result = check(function, handlers)
        if not result.imported:
            note = (
                f"import not checked: the package is for python{function.python[0]}."
                f"{function.python[1]}, this is python{sys.version_info[0]}.{sys.version_info[1]}"
            )
            if args.require_import:
                result.findings.append(note)
        else:
            note = "handler and every project module import from the package alone"
        print(f"{function.name}: {result.size_bytes / 1e6:.1f} MB unzipped ({note})")
        for finding in result.findings:
            print(f"  {function.name}: {finding}")
        failed += bool(result.findings)
    if failed:
        print(f"{failed} of {len(functions)} package(s) failed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
