#!/usr/bin/env bash
# Proves spe-trainer on a GPU and measures it against PyTorch, in one run of under 8 minutes,
# from what scripts/gpu-pack.sh packed (run that first, where the binaries are built):
#
#     bash scripts/gpu-check.sh [REPORT_DIR]         # on the GPU machine, from the repository root
#     SPE_GPU_CHECK_DRY=1 bash scripts/gpu-check.sh  # every step on this CPU, tiny sizes
#
# REPORT_DIR (by default $OUT, else target/gpu-check) receives gpu-report.md (each step with
# its command, outcome, figures and the end of its output), gpu-report.json (the same figures)
# and gpu-check.log (every step's whole output). The steps, most important first:
#   cuda-test       the CUDA correctness test (trainer/tests/train.rs): fp32 first-step losses
#                   equal to the CPU's; a BERT of MiniLM's shape in bf16 for 300 steps with
#                   finite, falling losses; --resume continuing; the export loading in transformers
#   nccl            a data-parallel group of one over NCCL equal to a plain CUDA process
#   dump            a multistream Wikipedia dump of >= 500 MB of XML and >= 1M sentences
#   prep-wiki-T     spe prep wiki on it at T threads (1, 2, 4, 8, 16): throughput, peak memory
#   prep-text-T     spe prep text on >= 1M sentences, likewise; then the shards compared
#   matmul          the TFLOP/s an 8192^3 bf16 matrix product reaches, the practical peak
#   bench-*         benches/train at the global batch of 256 on those shards, without and with
#                   length bucketing: samples/s, real tokens/s, peak GPU memory, MFU
#   torch-*         benches/torch_reference.py on the same batches, eager (with the costliest
#                   kernels of one step) and torch.compile
#   finetune        spe finetune of the MiniLM-shaped BERT on the bundled SciERC sample
# A step that fails is reported and the next one runs; the exit status says whether all passed.
# SPE_GPU_CHECK_ONLY (an extended regular expression) runs only the steps whose names match
# it, besides the set-up, to take again what a first run left out.
# The binaries find the GPU machine's PyTorch (its python3's torch/lib) through LD_LIBRARY_PATH.
set -uo pipefail
cd "$(dirname "$0")/.."
dry=${SPE_GPU_CHECK_DRY:-0}
pack=target/gpu-pack
report=$(realpath -m "${1:-${OUT:-target/gpu-check}}")
work=$(mktemp -d "${TMPDIR:-/tmp}/spe-gpu-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
say() { printf 'gpu-check: %s\n' "$*" >&2; }
[ -f "$pack/binaries.tsv" ] || { say "$pack is missing: run bash scripts/gpu-pack.sh where spe is built"; exit 2; }
mkdir -p "$report" "$work/logs"
rm -f "$report/gpu-report.md" "$report/gpu-report.json" "$report/gpu-check.log"

if [ "$dry" = 1 ]; then
    py=${SPE_GPU_CHECK_PYTHON:-$PWD/.venv/bin/python}
    device=cpu copies=2 text_copies=3 threads="2 1" epochs=1 budget=${SPE_GPU_CHECK_BUDGET:-1200}
    bench_mode="" reference="--tiny --batch 16 --device cpu" cuda_env="" matmul=1024
else
    py=${SPE_GPU_CHECK_PYTHON:-python3}
    # 240 copies of the sample's 2.1 MB of XML (5,600 sentences each): 504 MB, 1.3M sentences.
    device=cuda copies=240 text_copies=1500 threads="16 8 4 2 1" epochs=5 budget=${SPE_GPU_CHECK_BUDGET:-470}
    bench_mode="--bench" reference="--batch 256" cuda_env="SPE_TEST_CUDA=1" matmul=8192
fi
deadline=$((SECONDS + budget))
torch_lib=$("$py" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))') ||
    { say "$py has no torch"; exit 2; }
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" SPE_PYTHON="$py" PY="$py" WORK="$work"

# step ID KIND TITLE LIMIT_S COMMAND: runs COMMAND (a shell string) with at most LIMIT_S
# seconds (fewer when the budget runs short), its output in $work/logs/ID.log.
step() {
    local id=$1 kind=$2 title=$3 limit=$4 command=$5 left=$((deadline - SECONDS)) started=$SECONDS rc
    if [ "$kind" != setup ] && ! [[ $id =~ ^(${SPE_GPU_CHECK_ONLY:-.*})$ ]]; then
        return 0
    elif [ "$left" -lt 15 ]; then
        rc=skipped
    else
        [ "$limit" -le "$left" ] || limit=$left
        say "$id: $title (at most $limit s)"
        timeout -k 10 "$limit" bash -c "$command" >"$work/logs/$id.log" 2>&1
        rc=$?
        [ "$rc" = 0 ] || say "$id failed (exit $rc); going on"
    fi
    command=$(tr -s ' \n\t' ' ' <<<"$command")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$kind" "$rc" "$((SECONDS - started))" "$title" "$command" >>"$work/steps.tsv"
    { printf '\n===== %s: %s (exit %s)\n$ %s\n' "$id" "$title" "$rc" "$command"; cat "$work/logs/$id.log" 2>/dev/null; } \
        >>"$report/gpu-check.log"
    [ "$rc" = 0 ]
}

# The binaries: on the GPU machine they go where they were built (the test binaries hold
# that path), through a link to this checkout when it lies elsewhere; in a dry run they stay
# where cargo built them, and each packed one is unpacked aside and started once.
build_root=$(cat "$pack/build-root")
bin() { awk -F'\t' -v n="$1" '$1 == n { print $2 }' "$pack/binaries.tsv"; }
unpack() {
    local into=$1 name rel
    while IFS=$'\t' read -r name rel _; do
        local to="$into/$rel"
        [ "$into" = "$work/unpacked" ] && to="$into/$name"
        mkdir -p "$(dirname "$to")"
        "$py" -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
            "$pack/$name.xz" "$to" && chmod +x "$to" || return 1
        echo "$name -> $to ($(stat -c %s "$to") bytes)"
    done <"$pack/binaries.tsv"
}
if [ "$dry" = 1 ]; then
    step unpack setup "unpack the packed binaries aside and start each" 120 \
        "$(declare -f unpack); py=$py pack=$pack work=$work; unpack $work/unpacked &&
         $work/unpacked/spe --version && $work/unpacked/spe-trainer --version &&
         for t in test-train test-distributed; do $work/unpacked/\$t --list | tail -n 1; done"
else
    step unpack setup "unpack the binaries where they were built ($build_root)" 120 \
        "$(declare -f unpack); py=$py pack=$pack work=$work
         if [ ! $build_root -ef $PWD ]; then
             [ -e $build_root ] && { echo '$build_root exists and is not this checkout'; exit 1; }
             mkdir -p \$(dirname $build_root) && ln -s $PWD $build_root || exit 1
         fi
         unpack $PWD"
fi
spe=$build_root/$(bin spe) trainer=$build_root/$(bin spe-trainer)
test_train=$build_root/$(bin test-train) test_distributed=$build_root/$(bin test-distributed)
bench_train=$build_root/$(bin bench-train)

step env setup "the machine" 60 "nvidia-smi 2>&1 | head -n 20; nproc; free -g | head -n 2;
    $py -c 'import torch, transformers; print(\"torch\", torch.__version__, \"cuda\", torch.cuda.is_available(), \"transformers\", transformers.__version__)';
    $trainer --version; cut -f1,3 $pack/binaries.tsv"

minilm=$work/minilm
step minilm setup "a BERT of all-MiniLM-L6-v2's shape with random weights" 120 \
    "$py scripts/gpu-check.py minilm $pack/minilm $minilm"

step cuda-test test "CUDA: fp32 first step equal to the CPU's; bf16 training learns, resumes, exports" 150 \
    "$cuda_env SPE_TEST_BERT=$minilm $test_train on_a_gpu --test-threads 1 --nocapture"
step nccl test "a data-parallel group of one over NCCL trains as one CUDA process" 90 \
    "$cuda_env $test_distributed on_a_gpu --test-threads 1 --nocapture"

dump=$work/dump-multistream.xml.bz2 sentences=$work/sentences.txt
step dump setup "a multistream dump of $copies copies of the bundled sample, and $text_copies copies of its sentences" 120 \
    "$py benches/make-multistream-dump.py $copies $dump &&
     for i in \$(seq $text_copies); do cat data/sample/enwiki-sentences.txt; done >$sentences && wc -l $sentences"
# The benches read the first preparation's shards (at the most threads), made first.
shards=$work/wiki-${threads%% *}
prep_wiki() {
    step "prep-wiki-$1" prep "spe prep wiki --threads $1" 120 \
        "$py scripts/gpu-check.py measure -- $spe prep wiki --input $dump --out $work/wiki-$1 --threads $1 --force"
}
prep_wiki "${threads%% *}"
step matmul matmul "the practical peak: a ${matmul}^3 matrix product" 60 "$py scripts/gpu-check.py matmul $matmul"
step bench-plain bench "benches/train on the wiki shards, rows in file order" 120 \
    "SPE_BENCH_DEVICE=$device SPE_BENCH_SHARDS=$shards SPE_BENCH_DUMP=$work/batches.safetensors $bench_train $bench_mode"
step bench-bucketed bench "benches/train on the wiki shards, micro-batches bucketed by length" 90 \
    "SPE_BENCH_DEVICE=$device SPE_BENCH_SHARDS=$shards SPE_BENCH_BUCKET=1 $bench_train $bench_mode"
step torch-eager bench "PyTorch eager on the same batches, and its costliest kernels" 90 \
    "$py benches/torch_reference.py $work/batches.safetensors $reference --profile 15"
step torch-compile bench "PyTorch torch.compile on the same batches" 180 \
    "$py benches/torch_reference.py $work/batches.safetensors $reference --compile"

for t in ${threads#* }; do prep_wiki "$t"; done
for t in $threads; do
    step "prep-text-$t" prep "spe prep text --threads $t" 60 \
        "$py scripts/gpu-check.py measure -- $spe prep text --input $sentences --out $work/text-$t --threads $t --force"
done
step prep-same check "the shards byte-identical across thread counts" 60 \
    "$py scripts/gpu-check.py same \$(for t in $threads; do echo $work/wiki-\$t; done) &&
     $py scripts/gpu-check.py same \$(for t in $threads; do echo $work/text-\$t; done)"

step finetune finetune "spe finetune of the MiniLM-shaped BERT on the SciERC sample, $epochs epochs" 120 \
    "$spe prep scierc --train data/sample/scierc/train.json --dev data/sample/scierc/dev.json \
         --test data/sample/scierc/test.json --tokenizer $minilm/vocab.txt --out $work/scierc --force &&
     $py scripts/gpu-check.py measure -- $trainer finetune --data $work/scierc --encoder $minilm \
         --out $work/finetune --device $device --set epochs=$epochs --set patience=$epochs --quiet &&
     $py scripts/gpu-check.py rate $work/scierc $work/finetune"

mode=$([ "$dry" = 1 ] && echo "dry run on the CPU, tiny sizes" || echo "on the GPU, full sizes")
"$py" - "$work/meta.json" "$mode" <<'EOF'
import json, sys, time
import torch
json.dump({
    "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "the CPU",
    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    "commit": open("target/gpu-pack/commit").read().strip(),
    "mode": sys.argv[2],
    "torch": torch.__version__,
}, open(sys.argv[1], "w"))
EOF
"$py" scripts/gpu-check.py report "$work" "$report"
