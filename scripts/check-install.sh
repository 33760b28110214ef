#!/usr/bin/env bash
# scripts/check-install.sh — what a user of the library gets: installs libqtf
# into a temporary prefix, then (1) compiles the installed qtf.h on its own
# with -Wpedantic (C11 and C++), (2) builds tests/install/consumer.c against
# the installed header and shared library through pkg-config only, runs it,
# (3) checks that libqtf.so exports the public API only (nm -D: no
# qtf__ helpers or test hooks), and (4) that the installed tools are linked
# to that libqtf.so and carry no copy of its code (no symbol the .so exports
# is defined in a tool), and run from the prefix. Run by .ci/run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/qtf-install-XXXXXX")
trap 'rm -rf "$work"' EXIT
meson setup "$work/build" --prefix="$work/prefix" -Dtests=disabled -Dbench=false \
    -Dwerror=true >/dev/null
ninja -C "$work/build" >/dev/null
meson install -C "$work/build" >/dev/null
pc=$(dirname "$(find "$work/prefix" -name qtf.pc | head -1)")
lib=$(dirname "$(find "$work/prefix" -name 'libqtf.so' | head -1)")
export PKG_CONFIG_PATH="$pc"
inc=$(pkg-config --variable=includedir qtf)

for h in qtf.h qtf/defs.h qtf/errors.h qtf/types.h qtf/encodings.h qtf/container.h \
         qtf/metrics.h; do
    echo "check-install: $h alone, C11 -Wpedantic"
    printf '#include <%s>\n' "$h" | cc -std=c11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only \
        $(pkg-config --cflags qtf) -x c -
done
if command -v c++ >/dev/null; then
    echo "check-install: header alone, C++ -Wpedantic"
    printf '#include <qtf.h>\n' | c++ -Wall -Wextra -Wpedantic -Werror -fsyntax-only \
        $(pkg-config --cflags qtf) -x c++ -
fi

echo "check-install: third-party program against $inc and $lib"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Wpedantic -Werror tests/install/consumer.c \
    $(pkg-config --cflags --libs qtf) -lm -o "$work/consumer"
LD_LIBRARY_PATH="$lib" "$work/consumer" "$work/out.qtf"

echo "check-install: exported symbols"
extra=$(nm -D --defined-only "$lib/libqtf.so" | awk '{print $3}' | grep -v '^qtf_[a-z]' || true)
if [ -n "$extra" ]; then
    echo "check-install: libqtf.so exports non-API symbols:" >&2
    echo "$extra" >&2
    exit 1
fi

echo "check-install: the installed tools use the installed libqtf.so"
api=$(nm -D --defined-only "$lib/libqtf.so" | awk '{print $3}' | sort -u)
for tool in qtf-convert qtf-inspect qtf-verify qtf-edit; do
    exe="$work/prefix/bin/$tool"
    deps=$(ldd "$exe")
    if [[ "$deps" != *"$lib/libqtf.so"* ]]; then
        echo "check-install: $tool is not linked to $lib/libqtf.so:" >&2
        echo "$deps" >&2
        exit 1
    fi
    copies=$(comm -12 <(echo "$api") <(nm --defined-only "$exe" | awk '{print $3}' | sort -u))
    if [ -n "$copies" ]; then
        echo "check-install: $tool defines libqtf's own symbols (a static copy):" >&2
        echo "$copies" >&2
        exit 1
    fi
    "$exe" --version >/dev/null
done
"$work/prefix/bin/qtf-inspect" "$work/out.qtf" >/dev/null
echo "check-install: OK ($(nm -D --defined-only "$lib/libqtf.so" | grep -c ' T ') functions exported; 4 tools over the shared library)"
