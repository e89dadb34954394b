#!/usr/bin/env bash
# `make fuzz`: every internet-facing parser's property test (tests/fuzz.rs) with a million
# generated inputs each, in an optimised build that keeps overflow checks (profile `fuzz`).
# A property fails on a panic or an answer outside its contract. nextest prints each
# property's time. PROPTEST_CASES overrides the count.
set -euo pipefail
cd "$(dirname "$0")/../.."
export PROPTEST_CASES="${PROPTEST_CASES:-1000000}"
echo "==> $PROPTEST_CASES generated inputs per property"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --cargo-profile fuzz -p sauda-tests --test fuzz --no-fail-fast "$@"
else
  cargo test --profile fuzz -p sauda-tests --test fuzz "$@"
fi
