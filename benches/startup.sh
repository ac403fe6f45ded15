#!/usr/bin/env bash
# What libtorch costs preparation, side by side in one run: the same `spe prep` command with
# `spe` (no libtorch) and with `spe-trainer` (the same command line, libtorch linked, as the
# single spe binary was before the trainer became a companion executable). The two alternate,
# RUNS times each (default 7); the medians of wall time, CPU time (user + system) and peak
# memory are printed with their ratios, and both outputs are checked byte for byte.
#
#   cargo build --release --workspace
#   bash benches/startup.sh                      # ten sentences of the bundled sample
#   bash benches/startup.sh big.txt dump.xml.bz2 # any text file or Wikipedia dump as well
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-7}
bins=(target/release/spe target/release/spe-trainer)
for bin in "${bins[@]}"; do
    [ -x "$bin" ] || { echo "$bin is missing: run cargo build --release --workspace first" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

inputs=("$@")
if [ ${#inputs[@]} -eq 0 ]; then
    head -n 10 data/sample/enwiki-sentences.txt > "$work/ten-sentences.txt"
    inputs=("$work/ten-sentences.txt")
fi

median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

printf '%-32s %-12s %10s %10s %10s\n' input binary "wall s" "CPU s" "peak MiB"
for input in "${inputs[@]}"; do
    case "$input" in
        *.xml*) corpus=wiki ;;
        *) corpus=text ;;
    esac
    for ((i = 0; i < runs; i++)); do
        for bin in "${bins[@]}"; do
            name=$(basename "$bin")
            rm -rf "$work/out-$name"
            /usr/bin/time -f "%e %U %S %M" -o "$work/time" \
                "$bin" prep "$corpus" --input "$input" --out "$work/out-$name" > /dev/null 2>&1
            read -r wall user sys kib < "$work/time"
            echo "$wall" >> "$work/wall-$name"
            echo "$user $sys" | awk '{print $1 + $2}' >> "$work/cpu-$name"
            echo "$kib" | awk '{print $1 / 1024}' >> "$work/mem-$name"
        done
    done
    declare -A med
    for bin in "${bins[@]}"; do
        name=$(basename "$bin")
        for m in wall cpu mem; do
            med[$m-$name]=$(median < "$work/$m-$name")
        done
        printf '%-32s %-12s %10.3f %10.3f %10.0f\n' "$(basename "$input")" "$name" \
            "${med[wall-$name]}" "${med[cpu-$name]}" "${med[mem-$name]}"
    done
    awk -v a="${med[wall-spe]}" -v b="${med[wall-spe-trainer]}" -v c="${med[cpu-spe]}" \
        -v d="${med[cpu-spe-trainer]}" -v e="${med[mem-spe]}" -v f="${med[mem-spe-trainer]}" \
        'BEGIN {printf "%-32s %-12s %9.1fx %9.1fx %9.1fx\n", "", "ratio", b / a, d / c, f / e}'
    # Only the run log (its timings) may differ.
    diff -r -x _run.json "$work/out-spe" "$work/out-spe-trainer" > /dev/null ||
        { echo "the two outputs of $input differ" >&2; exit 1; }
    rm -f "$work"/wall-* "$work"/cpu-* "$work"/mem-*
done
