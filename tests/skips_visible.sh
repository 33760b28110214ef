#!/usr/bin/env bash
# tests/skips_visible.sh TEST_EXE — a test that needs ../shared must say so
# when ../shared is absent: runs a Criterion test executable whose shared-data
# tests skip, with the shared checkpoints pointed at a missing folder, and
# fails unless each such test is reported as [SKIP] (never as a silent pass).
set -euo pipefail
exe=$1
out=$(QTF_SHARED_CHECKPOINTS=/nonexistent/qtf-shared "$exe" --jobs=1 --verbose 2>&1) || {
    echo "$out" | tail -20
    echo "skips_visible: $exe failed without the shared checkpoints" >&2
    exit 1
}
if ! grep -q '^\[SKIP\] ' <<<"$out"; then
    echo "$out" | tail -20
    echo "skips_visible: no test of $exe reported a skip without the shared checkpoints" >&2
    exit 1
fi
# not echoed as "[SKIP] ..." lines: the closing line of qtf.sh counts those
echo "skips_visible: $(grep -c '^\[SKIP\] ' <<<"$out") test(s) of $(basename "$exe") reported" \
    "as skipped without the shared checkpoints"
