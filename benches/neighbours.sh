#!/usr/bin/env bash
# How spe's trainer shares the CPU with a neighbour. Two jobs: the tiny pre-training
# (pipelines/train-tiny.toml, 300 steps on the bundled Wikipedia sample's shards) and a
# short fine-tuning (pipelines/finetune-tiny.toml for FT_EPOCHS epochs, 5 by default, on the
# bundled SciERC sample, from that pre-training). Each runs alone, two of the same started
# together, and beside a PyTorch training at nice 10 (benches/neighbour.py, PyTorch's
# default threads); the table gives wall seconds and the ratio to the same job alone.
#
#   source scripts/torch-env.sh && cargo build --release --workspace
#   bash benches/neighbours.sh [BIN_DIR ...]
#
# Each BIN_DIR holds a spe and its spe-trainer (target/release by default): a build of the
# commit before a change beside one after measures both in one run. SPE_BENCH_ENV adds
# variables to every spe command (SPE_BENCH_ENV="OMP_NUM_THREADS=1"), SPE_BENCH_JOBS picks
# the jobs ("train finetune" by default). The bench times processes that share the machine
# on purpose: start it on an otherwise quiet machine; it prints the load before each case.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/torch-env.sh >/dev/null
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(target/release)
for bin in "${bins[@]}"; do
    [ -x "$bin/spe" ] && [ -x "$bin/spe-trainer" ] ||
        { echo "$bin holds no spe and spe-trainer: cargo build --release --workspace first" >&2; exit 1; }
done
ft_epochs=${FT_EPOCHS:-5}
read -r -a extra_env <<<"${SPE_BENCH_ENV:-}"
work=$(mktemp -d)
neighbour=
trap '[ -z "$neighbour" ] || kill "$neighbour" 2>/dev/null; rm -rf "$work"' EXIT

# The inputs, prepared once with the first binary.
{
    "${bins[0]}/spe" prep wiki --input data/sample/enwiki-sample-multistream.xml.bz2 --out "$work/wiki" &&
        "${bins[0]}/spe" prep scierc --train data/sample/scierc/train.json --dev data/sample/scierc/dev.json \
            --test data/sample/scierc/test.json --out "$work/scierc"
} >"$work/prep.log" 2>&1 || { cat "$work/prep.log" >&2; exit 1; }

# job BIN NAME OUT: one run of a job, its output in OUT.
job() {
    local bin=$1 name=$2 out=$3
    rm -rf "$out"
    case $name in
    train) env "${extra_env[@]}" "$bin/spe" train --shards "$work/wiki" --out "$out" \
        --config pipelines/train-tiny.toml --device cpu --quiet ;;
    finetune) env "${extra_env[@]}" "$bin/spe" finetune --data "$work/scierc" --encoder "$work/encoder" \
        --out "$out" --config pipelines/finetune-tiny.toml --device cpu --quiet \
        --set epochs="$ft_epochs" --set patience="$ft_epochs" ;;
    esac >"$out.log" 2>&1 || { echo "$name failed: $out.log" >&2; cat "$out.log" >&2; exit 1; }
}

# timed BIN NAME OUT: prints the wall seconds of one job.
timed() {
    local started
    started=$(date +%s.%N)
    job "$@"
    echo "$(date +%s.%N) - $started" | bc
}

load() { cut -d' ' -f1 /proc/loadavg; }

printf '%-24s %-9s %-34s %8s %8s %6s\n' binary job case "wall s" "× alone" load
for bin in "${bins[@]}"; do
    # The fine-tuning starts from a tiny pre-training of this binary's.
    [[ " ${SPE_BENCH_JOBS:-finetune} " != *" finetune "* ]] || job "$bin" train "$work/encoder"
    for name in ${SPE_BENCH_JOBS:-train finetune}; do
        before=$(load)
        alone=$(timed "$bin" $name "$work/a")
        row() { printf '%-24s %-9s %-34s %8.1f %8.2f %6s\n' "$bin" $name "$1" "$2" "$(echo "$2 / $alone" | bc -l)" "$3"; }
        row alone "$alone" "$before"

        before=$(load)
        timed "$bin" $name "$work/b" >"$work/b.time" &
        first=$!
        timed "$bin" $name "$work/c" >"$work/c.time" &
        second=$!
        wait $first $second
        row "two at once: the first" "$(cat "$work/b.time")" "$before"
        row "two at once: the second" "$(cat "$work/c.time")" "$before"

        nice -n 10 python benches/neighbour.py 2>"$work/neighbour.log" &
        neighbour=$!
        sleep 10
        before=$(load)
        row "beside PyTorch at nice 10" "$(timed "$bin" $name "$work/d")" "$before"
        kill $neighbour
        wait $neighbour 2>/dev/null || true
        neighbour=
    done
done
