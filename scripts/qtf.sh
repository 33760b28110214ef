#!/usr/bin/env bash
# scripts/qtf.sh — the project's two entry points (see README):
#   bash scripts/qtf.sh demo   install what is missing, build, convert a generated
#                              sample checkpoint, inspect and verify the results
#   bash scripts/qtf.sh test   install what is missing, build, run every test
# Options via environment: BUILD_DIR (default build), MESON_ARGS (extra options
# for the first `meson setup`), QTF_NO_INSTALL=1 skips apt.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$here"
build=${BUILD_DIR:-build}
mode=${1:-}

# Debian 12 packages the project needs (build, tests, fuzzing, benchmarks).
packages=(gcc pkg-config meson ninja-build libxxhash-dev libzstd-dev libjansson-dev
          libcriterion-dev clang libclang-rt-14-dev
          python3-dev python3-numpy python3-pytest python3-torch)

install_missing() {
    [ "${QTF_NO_INSTALL:-0}" = 1 ] && return 0
    local missing=()
    for p in "${packages[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "qtf.sh: installing ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null
}

configure_and_build() {
    if [ ! -f "$build/build.ninja" ]; then
        # shellcheck disable=SC2086
        meson setup "$build" ${MESON_ARGS:-} >/dev/null
    fi
    ninja -C "$build"
}

# Sums the Criterion synthesis lines, the Criterion [SKIP] lines (the tests run
# with --verbose so that skips are printed) and pytest's closing line of a
# meson test log into one closing line; the skipped tests are listed so that a
# test which could not run (../shared absent) never looks like a pass.
summarize_criterion() {
    local log=$1 label=$2
    awk -v label="$label" '
        /Synthesis: Tested:/ {
            for (i = 1; i <= NF; i++) {
                if ($i == "Passing:") p += $(i + 1)
                if ($i == "Failing:") f += $(i + 1)
                if ($i == "Crashing:") c += $(i + 1)
            }
        }
        /^\[SKIP\] / { s++; if (s <= 20) skipped = skipped "\n  skipped: " substr($0, 8) }
        /^SKIPPED \[/ { if (++s <= 20) skipped = skipped "\n  skipped: " substr($0, 9) }
        /^[=]* *[0-9]+ (passed|failed|skipped)/ || / in [0-9.]+s *=*$/ {
            for (i = 1; i <= NF; i++) {
                if ($i ~ /^passed,?$/) p += $(i - 1)
                if ($i ~ /^failed,?$/) f += $(i - 1)
            }
        }
        END {
            printf "%s %d passed, %d failed, %d skipped%s\n", label, p, f + c, s, skipped
        }' "$log"
}

case "$mode" in
demo)
    install_missing
    configure_and_build
    exec bash scripts/demo.sh "$build"
    ;;
test)
    install_missing
    configure_and_build
    status=0
    meson test -C "$build" --print-errorlogs --num-processes 2 || status=$?
    summarize_criterion "$build/meson-logs/testlog.txt" "tests:"
    exit $status
    ;;
*)
    echo "usage: bash scripts/qtf.sh demo|test" >&2
    exit 2
    ;;
esac
