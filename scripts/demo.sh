#!/usr/bin/env bash
# scripts/demo.sh BUILD_DIR [OUT_DIR] — the main job of QTF, end to end:
#   1. generate a small LLaMA-like Hugging Face checkpoint (sharded bf16
#      safetensors + config.json) with qtf-make-sample;
#   2. convert it with several encodings (qtf-convert);
#   3. show what one .qtf holds (qtf-inspect);
#   4. check every file and measure its error against the checkpoint
#      (qtf-verify --against);
#   5. convert back to .safetensors, and prove the lossless path exact;
#   6. print a table of sizes and errors.
# Builds nothing: run `bash scripts/qtf.sh demo` to build and run it. Files go
# to OUT_DIR (default: a new temp dir, removed at the end unless KEEP=1).
# Exits non-zero on any failure.
set -euo pipefail

build=${1:?usage: scripts/demo.sh BUILD_DIR [OUT_DIR]}
build=$(cd "$build" && pwd)
convert=$build/convert/qtf-convert
inspect=$build/inspect/qtf-inspect
verify=$build/inspect/qtf-verify
make_sample=$build/tools/qtf-make-sample
for tool in "$convert" "$inspect" "$verify" "$make_sample"; do
    if [ ! -x "$tool" ]; then
        echo "demo.sh: $tool is missing: build first (ninja -C $build)" >&2
        exit 1
    fi
done

if [ $# -ge 2 ]; then
    out=$2
    mkdir -p "$out"
else
    out=$(mktemp -d "${TMPDIR:-/tmp}/qtf-demo-XXXXXX")
    [ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$out"' EXIT
fi

step() { printf '\n== %s\n' "$*"; }
bytes() { stat -c %s "$1"; }
dir_bytes() { du -cb "$1"/*.safetensors | tail -1 | cut -f1; }

step "1. sample checkpoint (qtf-make-sample)"
sample=$out/sample
rm -rf "$sample"
"$make_sample" "$sample"
ls -l "$sample"
src_bytes=$(dir_bytes "$sample")

step "2. convert (qtf-convert)"
specs=(int8 int4:group=32 nf4:group=64,dq pal4:rows=8 keep)
declare -A secs
for spec in "${specs[@]}"; do
    name=${spec//[:,=]/-}
    start=$(date +%s.%N)
    "$convert" --quiet --force --encoding "$spec" --fallback int8 "$sample" "$out/$name.qtf"
    end=$(date +%s.%N)
    secs[$spec]=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }')
    echo "qtf-convert --encoding $spec $sample -> $name.qtf (${secs[$spec]} s)"
done

step "3. what a .qtf holds (qtf-inspect, first tensors)"
"$inspect" --width 60 "$out/int4-group-32.qtf" >"$out/int4-group-32.inspect.txt"
head -n 48 "$out/int4-group-32.inspect.txt"

step "4. verify against the checkpoint (qtf-verify --against)"
declare -A rel snr verdict
for spec in "${specs[@]}"; do
    name=${spec//[:,=]/-}
    report=$out/$name.verify.txt
    status=0
    "$verify" --quiet --against "$sample" "$out/$name.qtf" >"$report" 2>&1 || status=$?
    if [ $status -ne 0 ]; then
        cat "$report"
        echo "demo.sh: qtf-verify failed on $name.qtf (exit $status)" >&2
        exit 1
    fi
    summary=$(grep -m1 'rel.RMSE' "$report" || true)
    rel[$spec]=$(sed -n 's/.*rel\.RMSE \([^,]*\),.*/\1/p' <<<"$summary")
    snr[$spec]=$(sed -n 's/.*SNR \([^ ]*\) dB.*/\1/p' <<<"$summary")
    verdict[$spec]=$(grep -m1 '^RESULT' "$report" | cut -d' ' -f2)
    echo "$name.qtf: ${verdict[$spec]}  (${summary# *})"
done
cat "$out/int4-group-32.verify.txt"

step "5. back to safetensors"
"$convert" --quiet --force --encoding bf16 "$out/int8.qtf" "$out/int8-dequantized.safetensors"
echo "int8.qtf -> int8-dequantized.safetensors ($(bytes "$out/int8-dequantized.safetensors") bytes, bf16)"
# Lossless path: checkpoint -> .qtf (keep) -> .safetensors (keep) -> .qtf
# must reproduce every tensor exactly.
"$convert" --quiet --force --encoding keep "$out/keep.qtf" "$out/roundtrip.safetensors"
"$convert" --quiet --force --encoding keep "$out/roundtrip.safetensors" "$out/roundtrip.qtf"
"$verify" --quiet --against "$sample" --max-rel-rmse 0 "$out/roundtrip.qtf" \
    >"$out/roundtrip.verify.txt" 2>&1 || {
    cat "$out/roundtrip.verify.txt"
    echo "demo.sh: the lossless round trip is not exact" >&2
    exit 1
}
echo "keep.qtf -> roundtrip.safetensors -> roundtrip.qtf: every tensor identical to the checkpoint"

step "6. summary"
printf 'checkpoint: %s (%s bytes of bf16 safetensors)\n\n' "$sample" "$src_bytes"
printf '%-18s %12s %8s %8s %10s %9s %8s %6s\n' encoding bytes ratio bpw rel.RMSE SNR.dB seconds verify
for spec in "${specs[@]}"; do
    name=${spec//[:,=]/-}
    size=$(bytes "$out/$name.qtf")
    bpw=$("$inspect" --no-tensors --no-metadata "$out/$name.qtf" |
          sed -n 's/^Bits\/weight *\([0-9.]*\).*/\1/p')
    printf '%-18s %12s %8s %8s %10s %9s %8s %6s\n' "$spec" "$size" \
        "$(awk -v a="$size" -v b="$src_bytes" 'BEGIN { printf "%.3f", a / b }')" \
        "${bpw:-?}" "${rel[$spec]:-?}" "${snr[$spec]:-?}" "${secs[$spec]}" "${verdict[$spec]}"
done
printf '\n(ratio: .qtf size / checkpoint size; rel.RMSE and SNR weighted by element count,\n'
printf ' exact tensors left out of SNR; "keep" stores the checkpoint losslessly)\n'
[ $# -ge 2 ] || [ "${KEEP:-0}" != 1 ] || echo "files kept in $out"
