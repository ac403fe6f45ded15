#!/usr/bin/env bash
# The main job on the bundled samples: builds spe and its trainer, checks the samples
# against their data manifests, prepares span-pair shards from a real English Wikipedia
# dump sample (multistream form, decoded in parallel with its index) and labeled shards
# from real SciERC documents, verifies both and shows a few rows, then pre-trains a tiny
# model on the Wikipedia shards on the CPU with TBO, SPO and CSPO and exports it. Last, it
# fine-tunes the extractor from that model on the SciERC sample, prints its F1 tables,
# extracts entities and relations from a few lines of raw text, and runs a small grid of
# fine-tuning runs (spe experiment) against a second pre-training it makes.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/torch-env.sh

say() { printf '\n== %s\n' "$*" >&2; }

say "Building spe and its trainer, spe-trainer (cargo build --release --workspace; minutes the first time)"
cargo build --locked --release --workspace
spe=./target/release/spe

say "1. The bundled samples match their data manifests (sizes, SHA-256, documents)"
$spe verify-source data-manifests/enwiki-sample.toml .
$spe verify-source data-manifests/scierc-sample.toml .

out=out/enwiki-sample
say "2. Span-pair pre-training shards from 100 pages of a real Wikipedia dump: each row is a
   sentence with its span pair (L s1 M s2 R), its SPO permutations, TBO targets and both
   CSPO views; verify re-reads them against the manifest, inspect shows three"
$spe prep wiki --input data/sample/enwiki-sample-multistream.xml.bz2 --out "$out" --force
$spe verify "$out"
$spe inspect "$out" -n 3

scierc=data/sample/scierc
say "3. Labeled shards from real SciERC documents: one row per sentence with its entities
   and relations, in train, dev and test folders"
$spe prep scierc --train $scierc/train.json --dev $scierc/dev.json --test $scierc/test.json \
    --out out/scierc-sample --force
$spe verify out/scierc-sample
$spe inspect out/scierc-sample -n 1

say "4. Pre-training a tiny model (2 layers, 64 hidden) on the CPU with TBO, SPO and CSPO:
   all three losses fall, SPO below chance (ln 6 = 1.79); about 50 s"
rm -rf out/train-tiny
$spe train --shards "$out" --out out/train-tiny --config pipelines/train-tiny.toml --device cpu --quiet
python -c "
from transformers.utils import logging
logging.disable_progress_bar()
logging.set_verbosity_error()
from transformers import BertModel
model = BertModel.from_pretrained('out/train-tiny/encoder', local_files_only=True)
print('transformers loads out/train-tiny/encoder:', sum(p.numel() for p in model.parameters()), 'parameters')
"

say "5. Fine-tuning the entity and relation extractor from that model on the SciERC sample,
   then scoring it (exact-match F1; a model this small finds few entities and fewer
   relations: this shows the chain, not the paper's numbers)"
rm -rf out/finetune-tiny
$spe finetune --data out/scierc-sample --encoder out/train-tiny --out out/finetune-tiny \
    --config pipelines/finetune-tiny.toml --device cpu --quiet
$spe evaluate --model out/finetune-tiny/model --data out/scierc-sample --split test

say "6. Extracting entities and relations from raw text (DyGIE JSON lines)"
printf '%s\n' "We present a statistical parser for English based on a maximum entropy model." \
    "It is evaluated on the Penn Treebank." > out/raw-text.txt
$spe predict --model out/finetune-tiny/model --input out/raw-text.txt --out out/raw-text-predictions.json
head -c 600 out/raw-text-predictions.json
echo

say "7. A grid of fine-tuning runs in one command (spe experiment): the tiny model against
   the same pre-training with TBO alone, which the experiment makes, two seeds each, as a
   table of mean and standard deviation with each seed paired against the baseline's"
rm -rf out/experiment-tiny
$spe experiment pipelines/experiments/tiny.toml --out out/experiment-tiny --device cpu --quiet

say "Done. The loss curves are in out/train-tiny/loss-curves.png; spe inspect out/train-tiny
   summarises the run, spe inspect out/experiment-tiny the grid"
