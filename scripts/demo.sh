#!/usr/bin/env bash
# The main job on the bundled sample: builds spe, prepares span-pair shards from a real
# English Wikipedia dump sample (multistream form, decoded in parallel with its index),
# verifies them against their manifest and shows a few rows.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked --release
out=out/enwiki-sample
./target/release/spe prep wiki --input data/sample/enwiki-sample-multistream.xml.bz2 --out "$out" --force
./target/release/spe verify "$out"
./target/release/spe inspect "$out" -n 3
