#!/usr/bin/env bash
# The cluster's steps on one machine, with several processes: 3 ranks prepare the bundled
# multistream Wikipedia sample, spe merge joins them, and 2 processes pre-train the tiny
# model on the result over Gloo, launched as torchrun would (RANK, WORLD_SIZE, MASTER_ADDR,
# MASTER_PORT). Run from the repository after building both binaries:
#
#   source scripts/torch-env.sh && cargo build --release --workspace
#   bash cluster/local.sh
set -euo pipefail
cd "$(dirname "$0")/.."
spe=target/release/spe
out=${1:-out/cluster}
rm -rf "$out"

pids=()
for rank in 0 1 2; do
    "$spe" prep wiki --input data/sample/enwiki-sample-multistream.xml.bz2 --out "$out/wiki" \
        --rank "$rank" --world-size 3 --threads 1 &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
"$spe" merge "$out/wiki"
"$spe" verify "$out/wiki"

pids=()
for rank in 0 1; do
    RANK=$rank WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=${MASTER_PORT:-29500} \
        "$spe" train --shards "$out/wiki" --config pipelines/train-tiny.toml --steps 60 \
        --device cpu --quiet --out "$out/train" &
    pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
