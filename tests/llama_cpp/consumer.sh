#!/usr/bin/env bash
# tests/llama_cpp/consumer.sh — a real llama.cpp runs what qtf-convert writes.
# With node >= 20, installs node-llama-cpp@3.21.1 (prebuilt CPU llama.cpp)
# once into the build tree, converts the two fixture checkpoints of
# ../shared/gguf to GGUF in every ggml type (llama-quantize --pure
# equivalent), and has llama.cpp greedy-generate 24 tokens from each file
# and from llama.cpp's own fixture of the same type: the texts must be equal;
# a --target-bpw mixture must load and generate.
# Exit 77 (meson: skipped) without node >= 20, without the network for the
# first install, or without ../shared.
set -uo pipefail
skip() { echo "SKIP: $*"; exit 77; }

: "${QTF_SOURCE_ROOT:?run through meson test}" "${QTF_BUILD_ROOT:?run through meson test}"
shared="$QTF_SOURCE_ROOT/../shared"
[ -d "$shared/gguf" ] || skip "../shared/gguf not available"
command -v node >/dev/null || skip "node not installed"
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$major" -ge 20 ] 2>/dev/null || skip "node $(node --version 2>/dev/null) is older than 20"
command -v npm >/dev/null || skip "npm not installed"

pkg="$QTF_BUILD_ROOT/node-llama-cpp-3.21.1"
if [ ! -f "$pkg/node_modules/node-llama-cpp/package.json" ]; then
    mkdir -p "$pkg" || exit 1
    echo "installing node-llama-cpp@3.21.1 into $pkg (once)"
    if ! timeout 600 npm i -E node-llama-cpp@3.21.1 --prefix "$pkg" --ignore-scripts \
            --no-audit --no-fund --fetch-timeout=60000 >"$pkg/npm.log" 2>&1; then
        tail -5 "$pkg/npm.log"
        skip "npm could not install node-llama-cpp@3.21.1 (no network?)"
    fi
fi

convert="$QTF_BUILD_ROOT/convert/qtf-convert"
out=$(mktemp -d /tmp/qtf-llama-cpp-XXXXXX) || exit 1
trap 'rm -rf "$out"' EXIT

pairs=()
types="f32:f32 q8_0:Q8_0 q4_0:Q4_0 q4_1:Q4_1 q5_0:Q5_0 q5_1:Q5_1 iq4_nl:IQ4_NL
       iq4_xs:IQ4_XS q2_k:Q2_K q3_k_m:Q3_K_M q4_k_m:Q4_K_M q5_k_m:Q5_K_M q6_k:Q6_K"
for model in "aidreams-260k:$shared/checkpoints/aidreams-llama-260k-hf:aidreams-llama-260k" \
             "synth:$shared/gguf/synth-llama-hf:synth-llama-256x512"; do
    IFS=: read -r fixdir src name <<<"$model"
    for t in $types; do
        preset=${t%%:*} fixture="$shared/gguf/$fixdir/model-${t##*:}.gguf"
        [ -f "$fixture" ] || { echo "missing fixture $fixture"; exit 1; }
        f="$out/$fixdir-$preset.gguf"
        "$convert" -q --pure -e "$preset" --name "$name" "$src" "$f" || {
            echo "qtf-convert -e $preset $src failed"; exit 1; }
        pairs+=("$fixdir $preset=$f=$fixture")
    done
done
# The real Q4_K_M mixture too (not --pure).
"$convert" -q -e q4_k_m --name synth-llama-256x512 "$shared/gguf/synth-llama-hf" \
    "$out/synth-mix.gguf" || exit 1
pairs+=("synth q4_k_m mixture=$out/synth-mix.gguf=$shared/gguf/synth/model-Q4_K_M-mix.gguf")
# A --target-bpw mixture (no llama.cpp file has the same types): llama.cpp
# must load it and generate the same text twice.
"$convert" -q --target-bpw 4.5 --importance "$shared/gguf/synth/imatrix.gguf" \
    --name synth-llama-256x512 "$shared/gguf/synth-llama-hf" "$out/synth-target.gguf" || exit 1
pairs+=("synth --target-bpw 4.5 (loads, generates)=$out/synth-target.gguf=$out/synth-target.gguf")

cd "$pkg" || exit 1
cp "$QTF_SOURCE_ROOT/tests/llama_cpp/generate.mjs" "$pkg/generate.mjs" || exit 1
node "$pkg/generate.mjs" "${pairs[@]}"
