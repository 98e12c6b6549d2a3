#!/usr/bin/env bash
# Offline checks of the AWS pipeline's declarative parts and the Lambda build, run by
# scripts/test after the tests (any failure fails the run):
#   statelint on the state machine, cfn-lint and `sam validate --lint` on the template,
#   tests/pipeline/contract.py (AWS's error names, redrive, failure path, IAM, hygiene),
#   `cargo lambda build --release --arm64` of the four functions (zig from .venv/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/moto.sh tools
export PATH="$PWD/.venv/bin:$PATH"
# The linters need a region and (dummy) credentials, never real ones.
export AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing SAM_CLI_TELEMETRY=0

echo "pipeline-checks: statelint statemachine/migration.asl.json"
statelint statemachine/migration.asl.json
echo "pipeline-checks: cfn-lint infra/template.yaml"
cfn-lint infra/template.yaml
echo "pipeline-checks: sam validate --lint"
sam validate --lint -t infra/template.yaml
echo "pipeline-checks: tests/pipeline/contract.py"
python tests/pipeline/contract.py

if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    rustup target add aarch64-unknown-linux-gnu
fi
echo "pipeline-checks: cargo lambda build --release --arm64"
functions=(bak2pg-trigger bak2pg-prepare bak2pg-report)
args=()
for f in "${functions[@]}"; do args+=(-p "$f"); done
cargo lambda build --release --arm64 "${args[@]}"
target="${CARGO_TARGET_DIR:-target}"
for f in "${functions[@]}"; do
    b="$target/lambda/$f/bootstrap"
    [ -s "$b" ] || { echo "pipeline-checks: $b is missing" >&2; exit 1; }
    # ELF e_machine (bytes 18-19, little-endian) 0x00b7 = AArch64.
    [ "$(od -An -tx1 -j18 -N2 "$b" | tr -d ' \n')" = "b700" ] || { echo "pipeline-checks: $b is not an arm64 executable" >&2; exit 1; }
done
echo "pipeline-checks: all passed"
