#!/usr/bin/env bash
# The main job on the bundled sample: builds spe, prepares span-pair shards from 700 real
# Wikipedia sentences, verifies them against their manifest and shows a few rows.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked --release
out=out/sample
./target/release/spe prep text --input data/sample/enwiki-sentences.txt --out "$out" --force
./target/release/spe verify "$out"
./target/release/spe inspect "$out" -n 3
