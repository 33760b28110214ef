#!/usr/bin/env bash
# bench/bench_convert.sh BUILD_DIR — qtf-convert throughput and peak memory on
# a generated ~2 GB bf16 checkpoint, side by side with `cp` of the same files.
#
# Both read from the page cache (the checkpoint is read once before timing).
# qtf-convert fsyncs its output before the rename (durability), cp does not,
# so `cp + sync` is shown too. The checkpoint and every output live in one
# temp dir under $TMPDIR (default /tmp) that is deleted at the end.
#
# Environment: LAYERS (18), HIDDEN (2048), VOCAB (32000) size the checkpoint;
# ENCODINGS ("int8 int4:group=32 pal4:rows=8"); THREADS ("1 2"); REPEAT (3)
# runs of cp, best kept.
set -euo pipefail

build=${1:?usage: bench/bench_convert.sh BUILD_DIR}
build=$(cd "$build" && pwd)
convert=$build/convert/qtf-convert
make_sample=$build/tools/qtf-make-sample
for tool in "$convert" "$make_sample" /usr/bin/time; do
    [ -x "$tool" ] || { echo "bench_convert: $tool missing" >&2; exit 1; }
done
layers=${LAYERS:-18}
hidden=${HIDDEN:-2048}
vocab=${VOCAB:-32000}
encodings=${ENCODINGS:-int8 int4:group=32 pal4:rows=8}
threads=${THREADS:-1 2}
repeat=${REPEAT:-3}

tmp=${TMPDIR:-/tmp}
echo "df -h $tmp:"
df -h "$tmp"
avail_kb=$(df -Pk "$tmp" | awk 'NR == 2 { print $4 }')
if [ "$avail_kb" -lt $((8 * 1024 * 1024)) ]; then
    echo "bench_convert: less than 8 GB free in $tmp (checkpoint + copy + outputs)" >&2
    exit 1
fi
work=$(mktemp -d "$tmp/qtf-bench-convert-XXXXXX")
trap 'rm -rf "$work"' EXIT

echo
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
uptime

gen_start=$(date +%s.%N)
"$make_sample" "$work/model" --layers "$layers" --hidden "$hidden" --vocab "$vocab" --shards 4
gen_end=$(date +%s.%N)
src_bytes=$(du -cb "$work"/model/*.safetensors | tail -1 | cut -f1)
echo "generated in $(awk -v a="$gen_start" -v b="$gen_end" 'BEGIN { printf "%.1f", b - a }') s"
cat "$work"/model/*.safetensors >/dev/null   # into the page cache

# Largest tensor in f32 bytes, for the memory bound 3x + 64 MiB.
largest=$("$convert" --dry-run "$work/model" |
          awk '$1 != "tensor" && /\[/ {
                   n = 1; s = $0; sub(/^[^[]*\[/, "", s); sub(/\].*/, "", s)
                   k = split(s, d, ", "); for (i = 1; i <= k; i++) n *= d[i]
                   if (n > m) m = n }
               END { printf "%.0f", m * 4 }')
bound_kb=$(( (3 * largest + 64 * 1048576) / 1024 ))

# wall seconds, peak RSS (KB) and CPU seconds (user + system) of a command,
# from /usr/bin/time -v. On a shared machine CPU seconds are the steadier figure.
measure() {
    local log=$work/time.log
    /usr/bin/time -v "$@" 2>"$log" >/dev/null || { cat "$log" >&2; return 1; }
    local wall rss cpu
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$log" |
           awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$log")
    cpu=$(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f", s }' "$log")
    echo "$wall $rss $cpu"
}
mbps() { awk -v b="$src_bytes" -v s="$1" 'BEGIN { printf "%.0f", (s > 0) ? b / s / 1e6 : 0 }'; }

mkdir -p "$work/copy"
best_cp=
for _ in $(seq "$repeat"); do
    rm -f "$work"/copy/*
    read -r s _ c < <(measure cp "$work"/model/*.safetensors "$work/copy/")
    if [ -z "$best_cp" ] || awk -v a="$s" -v b="$best_cp" 'BEGIN { exit !(a < b) }'; then
        best_cp=$s
        cp_cpu=$c
    fi
done
rm -f "$work"/copy/*
read -r cp_sync _ cp_sync_cpu < <(measure sh -c "cp '$work'/model/*.safetensors '$work/copy/' && sync")
rm -rf "$work/copy"

echo
echo "checkpoint: $src_bytes bytes of bf16 safetensors ($layers layers, hidden $hidden, vocab $vocab)"
echo "largest tensor: $largest bytes in f32; memory bound 3x + 64 MiB = $bound_kb KB"
echo
row() { printf '| %-28s | %7s | %8s | %7s | %8s | %6s | %11s | %11s | %s |\n' "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }
row command threads "wall s" "CPU s" "MB/s in" "x cp" "x cp + sync" "peak RSS MB" \
    "within bound (output)"
row "---" "---" "---" "---" "---" "---" "---" "---" "---"
row "cp (best of $repeat)" - "$best_cp" "$cp_cpu" "$(mbps "$best_cp")" 1.00 \
    "$(ratio "$cp_sync" "$best_cp")" - -
row "cp + sync" - "$cp_sync" "$cp_sync_cpu" "$(mbps "$cp_sync")" "$(ratio "$best_cp" "$cp_sync")" \
    1.00 - -
for enc in $encodings; do
    for t in $threads; do
        read -r s rss cpu < <(measure "$convert" --quiet --threads "$t" --encoding "$enc" \
                                      --fallback int8 "$work/model" "$work/out.qtf")
        out_bytes=$(stat -c %s "$work/out.qtf")
        rm -f "$work/out.qtf"
        row "qtf-convert -e $enc" "$t" "$s" "$cpu" "$(mbps "$s")" "$(ratio "$best_cp" "$s")" \
            "$(ratio "$cp_sync" "$s")" "$((rss / 1024))" \
            "$([ "$rss" -le "$bound_kb" ] && echo yes || echo NO) ($((out_bytes / 1048576)) MiB)"
    done
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
uptime
