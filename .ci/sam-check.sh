#!/usr/bin/env bash
# `sam validate --lint` and `sam build` as a user runs them, then the Lambda packages' check.
#
# SAM CLI gets its own venv (.ci/work/sam-venv: it pins boto3 and click, which would clash with the
# project's). It runs on a copy of what a fresh clone holds (the files git tracks or would add; no
# .venv, no .ci/work), so the build sees what a user's does:
#   1. sam validate --lint                 template.yaml as is;
#   2. sam build                            every function, for the template's runtime (python3.12);
#      deploy/lambda/check_package.py      prints each package's size; fails at >= 100 MB, on a
#                                          wheel not for python3.12 or a missing requirement;
#   3. sam build ReplayObjectsFunction     the same Makefile for this machine's Python (a copy of
#      of a copy of the template with      the template with Runtime: python<this>), so that
#      Runtime: python<this machine>       check_package.py --require-import imports every handler
#                                          and every module from the package alone here.
# Nothing is cached outside .ci/work (PIP_CACHE_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"
work="$repo/.ci/work"
SAM_CLI_VERSION=1.170.0
export SAM_CLI_TELEMETRY=0 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CACHE_DIR="$work/pip-cache"
mkdir -p "$work"
command -v make >/dev/null || { echo "sam build (BuildMethod: makefile) needs make" >&2; exit 1; }

python3 -m venv "$work/sam-venv"
if ! "$work/sam-venv/bin/pip" install -q "aws-sam-cli==$SAM_CLI_VERSION" >"$work/sam-pip.log" 2>&1; then
  cat "$work/sam-pip.log" >&2
  exit 1
fi
sam="$work/sam-venv/bin/sam"
"$sam" --version

src="$work/sam-src"
rm -rf "$src"
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' path; do
    if [ -f "$path" ]; then cp --parents -- "$path" "$src/"; fi
  done
else
  tar -cf - --exclude=./.git --exclude=./.venv --exclude=./.ci/work --exclude=./.aws-sam . \
    | tar -xf - -C "$src"
fi
cd "$src"

echo "--- sam validate --lint"
"$sam" validate --lint

echo "--- sam build"
"$sam" build
"$repo/.venv/bin/python" deploy/lambda/check_package.py .aws-sam/build

here=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
echo "--- sam build ReplayObjectsFunction for python$here (this machine), import check"
grep -q '^    Runtime: python3.12$' template.yaml
sed "s/^    Runtime: python3.12\$/    Runtime: python$here/" template.yaml >template.local-python.yaml
LAMBDA_PYTHON_VERSION="$here" "$sam" build -t template.local-python.yaml \
  --build-dir .aws-sam/build-local-python ReplayObjectsFunction
"$repo/.venv/bin/python" deploy/lambda/check_package.py .aws-sam/build-local-python \
  --function ReplayObjectsFunction --require-import
