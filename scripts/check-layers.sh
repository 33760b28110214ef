#!/usr/bin/env bash
# scripts/check-layers.sh — prints the include graph between folders and fails
# on an arrow that ARCHITECTURE.md does not allow: upward (a lower layer
# including a higher one), sideways (one tool folder including another), a
# private header (*_internal.h) used outside its folder, or a .c file included
# anywhere. Run from any directory; CI runs it (.ci/run).
#
# Layers, bottom to top; a folder may include its own headers, the public
# qtf.h, and the folders listed for it:
#   common/      -> (nothing)
#   format/      -> common
#   lib/         -> common format
#   checkpoint/  -> common            (libqtf only through the public qtf.h)
#   cli/         -> common            (libqtf only through the public qtf.h)
#   convert/ inspect/ tools/ -> cli checkpoint
#   python/      -> cli checkpoint    (the _qtf extension: public qtf.h, recipes, GGUF)
#   include/     -> include/qtf/ only (the public headers use nothing private)
#   tests/ fuzz/ bench/      -> anything but .c files and other tools' folders,
#                               and the test-support library tests/support/
#                               (included as "support/NAME.h")
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

declare -A allowed=(
    [common]=""
    [format]="common"
    [lib]="common format"
    [checkpoint]="common"
    [cli]="common"
    [convert]="cli checkpoint"
    [inspect]="cli checkpoint"
    [tools]="cli checkpoint"
    [python]="cli checkpoint"
    [include]="qtf"
    [tests]="common format lib checkpoint cli convert support"
    [fuzz]="common format lib checkpoint support"
    [bench]="common format lib support"
)

bad=0
declare -A edges=()
while IFS= read -r line; do
    file=${line%%:*}
    rest=${line#*:}
    rest=${rest#*:}                      # drop the line number
    target=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]*)".*/\1/' <<<"$rest")
    dir=${file%%/*}
    if [[ $target == *.c ]]; then
        echo "check-layers: $file includes a .c file: $target" >&2
        bad=1
        continue
    fi
    if [[ $target != */* ]]; then        # same folder, or the public header
        [ "$target" = qtf.h ] && edges["$dir -> include(qtf.h)"]=1
        if [ "$target" != qtf.h ] && [ ! -f "$(dirname "$file")/$target" ]; then
            echo "check-layers: $file includes \"$target\", not in $(dirname "$file")/" >&2
            bad=1
        fi
        continue
    fi
    to=${target%%/*}
    if [[ $target == ../* ]]; then
        echo "check-layers: $file reaches out with a relative path: $target" >&2
        bad=1
        continue
    fi
    if [ "$to" = "$dir" ]; then continue; fi
    edges["$dir -> $to"]=1
    ok=0
    for a in ${allowed[$dir]-}; do [ "$a" = "$to" ] && ok=1; done
    if [ $ok = 0 ]; then
        echo "check-layers: $file includes $target: $dir/ may not use $to/" >&2
        bad=1
    elif [[ $target == *_internal.h && $dir != tests && $dir != fuzz ]]; then
        echo "check-layers: $file includes $target, private to $to/" >&2
        bad=1
    fi
done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' \
             --include='*.c' --include='*.h' \
             common format lib checkpoint cli convert inspect tools python tests fuzz bench include)

printf '%s\n' "${!edges[@]}" | sort
if [ $bad = 0 ]; then
    echo "check-layers: OK (no upward or sideways include)"
fi
exit $bad
