#!/usr/bin/env bash
# The main job on the bundled samples: builds spe, checks the samples against their data
# manifests, prepares span-pair shards from a real English Wikipedia dump sample
# (multistream form, decoded in parallel with its index) and labeled shards from real
# SciERC documents, verifies both against their manifests and shows a few rows.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked --release
spe=./target/release/spe
$spe verify-source data-manifests/enwiki-sample.toml .
$spe verify-source data-manifests/scierc-sample.toml .

out=out/enwiki-sample
$spe prep wiki --input data/sample/enwiki-sample-multistream.xml.bz2 --out "$out" --force
$spe verify "$out"
$spe inspect "$out" -n 3

scierc=data/sample/scierc
$spe prep scierc --train $scierc/train.json --dev $scierc/dev.json --test $scierc/test.json \
    --out out/scierc-sample --force
$spe verify out/scierc-sample
$spe inspect out/scierc-sample -n 1
