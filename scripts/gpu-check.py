"""Helpers of scripts/gpu-check.sh, in the device's own Python (or .venv's in a dry run).

    python3 scripts/gpu-check.py measure -- COMMAND...   # wall time and peak memory of a command
    python3 scripts/gpu-check.py minilm CONFIG_DIR OUT   # a BERT of MiniLM's shape, random weights
    python3 scripts/gpu-check.py same DIR...             # are these outputs' shards byte-identical?
    python3 scripts/gpu-check.py rate DATA RUN           # a fine-tuning run's training sentences/s
    python3 scripts/gpu-check.py matmul N                # TFLOP/s of an N x N x N bf16 product
    python3 scripts/gpu-check.py report WORK REPORT_DIR  # gpu-report.md and gpu-report.json

`report` reads WORK/steps.tsv, WORK/meta.json and the step logs in WORK/logs (written by gpu-check.sh),
takes the figures out of each log, and writes the report: every step with its command, its
outcome and its figures, then the figures again as JSON.
"""

import json
import re
import resource
import subprocess
import sys
import time
from pathlib import Path


def measure(command):
    """Runs `command`, passes its output through, then prints one line with its wall time and
    its peak resident memory (the largest of its processes, as getrusage sees them)."""
    started = time.perf_counter()
    rc = subprocess.call(command)
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"measured: {seconds:.2f} s wall, peak memory {peak_kib / 1024:.0f} MiB, exit {rc}", flush=True)
    return rc


def minilm(config_dir, out):
    """Writes a BERT with all-MiniLM-L6-v2's configuration and vocabulary and seeded random
    weights: the real weights (90 MB) do not fit in what travels to the device."""
    import shutil

    import torch
    from transformers import BertConfig, BertModel

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = BertModel(BertConfig.from_json_file(Path(config_dir) / "config.json"), add_pooling_layer=True)
    model.save_pretrained(out, safe_serialization=True)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (Path(config_dir) / name).exists():
            shutil.copy(Path(config_dir) / name, out / name)
    print(f"a random BERT of all-MiniLM-L6-v2's shape in {out}")
    return 0


def shard_records(out):
    """Each shard of a prepared output as its manifest records it: the writer hashes the
    bytes as it writes them."""
    manifest = json.loads((Path(out) / "_manifest.json").read_text())
    return [(shard["file"], shard["bytes"], shard["sha256"]) for shard in manifest["shards"]]


def same(outs):
    first = shard_records(outs[0])
    differ = [o for o in outs[1:] if shard_records(o) != first]
    if not first:
        print(f"no shards in {outs[0]}")
        return 1
    if differ:
        print(f"shards differ from {outs[0]}'s: {', '.join(map(str, differ))}")
        return 1
    print(f"byte-identical shards: {len(first)} files in each of {len(outs)} outputs")
    return 0


def rate(data, run):
    """Training sentences a second of a fine-tuning run: the training split's sentences times
    the epochs, over the run's time (its dev scoring each epoch included)."""
    sentences = json.loads((Path(data) / "_manifest.json").read_text())["splits"]["train"]["stats"]["sentences"]
    last = json.loads((Path(run) / "metrics.jsonl").read_text().splitlines()[-1])
    print(f"{last['epoch']} epochs of {sentences} training sentences in {last['elapsed_s']:.1f} s, dev scoring "
          f"included: {sentences * last['epoch'] / last['elapsed_s']:.1f} sentences/s in training; "
          f"dev Ent {100 * last['dev_ent_f1']:.2f}")
    return 0


def matmul(n):
    """The bf16 FLOP/s of an n x n x n matrix product, the device's practical peak (on the CPU,
    fp32), timed over 20 products after 3 warm-ups."""
    import torch

    cuda = torch.cuda.is_available()
    device, dtype = ("cuda", torch.bfloat16) if cuda else ("cpu", torch.float32)
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(3):
        a @ b
    sync()
    started = time.perf_counter()
    for _ in range(20):
        a @ b
    sync()
    tflops = 20 * 2 * n**3 / (time.perf_counter() - started) / 1e12
    print(f"{n}^3 {dtype} product on {device}: {tflops:.1f} TFLOP/s reached")
    return 0


# The figures each kind of step prints, as (name, pattern): the first group is the value.
FIGURES = {
    "prep": [
        ("sentences", r"documents, (\d+) sentences"),
        ("sentences_per_s", r"\((\d+) sentences/s"),
        ("input_mb_per_s", r"sentences/s, ([\d.]+) MB/s"),
        ("seconds", r"measured: ([\d.]+) s wall"),
        ("peak_mib", r"peak memory (\d+) MiB"),
    ],
    "bench": [
        ("samples_per_s", r"([\d.]+) samples/s"),
        ("tokens_per_s", r"samples/s, (\d+) real tokens/s"),
        ("model_tflops", r"real tokens/s, ([\d.]+ [PTGM]?)FLOP/s"),
        ("mfu_percent", r"MFU ([\d.]+)%"),
        ("peak_gpu_gib", r"peak (?:GPU )?memory ([\d.]+) GiB"),
    ],
    "finetune": [
        ("train_sentences_per_s", r"([\d.]+) sentences/s in training"),
        ("seconds", r"measured: ([\d.]+) s wall"),
    ],
    "test": [("passed", r"test result: ok\. (\d+) passed")],
    "setup": [("xml_mb", r"([\d.]+) MB of XML")],
    "matmul": [("tflops", r"([\d.]+) TFLOP/s reached")],
}
SCALE = {"P": 1e3, "T": 1.0, "G": 1e-3, "M": 1e-6, "": 1e-12}


def figures(kind, log):
    found = {}
    for name, pattern in FIGURES.get(kind, []):
        m = re.findall(pattern, log)
        if m:
            value = m[-1]
            if name == "model_tflops":
                number, prefix = value.split(" ")
                found[name] = float(number) * SCALE[prefix]
                continue
            try:
                found[name] = float(value) if "." in value else int(value)
            except ValueError:
                found[name] = value
    return found


def comparisons(by_step):
    """spe's step time over PyTorch's on the same batches, its model FLOP/s against the
    measured matrix-product peak, and `spe prep wiki`'s rate in MB of dump XML a second."""
    lines = []
    spe = by_step.get("bench-plain", {})
    for reference in ("torch-eager", "torch-compile"):
        theirs = by_step.get(reference, {}).get("samples_per_s")
        if spe.get("samples_per_s") and theirs:
            lines.append(f"- spe's step time over {reference}'s on the same batches: {theirs / spe['samples_per_s']:.2f}")
    peak = by_step.get("matmul", {}).get("tflops")
    for bench in ("bench-plain", "bench-bucketed"):
        tflops = by_step.get(bench, {}).get("model_tflops")
        if tflops and peak:
            lines.append(f"- {bench}: {tflops:.1f} model TFLOP/s, {100 * tflops / peak:.1f}% of the {peak:.0f} TFLOP/s "
                         "the matrix product reached")
    # spe prints MB/s of its input as stored (bzip2); the dump's aim is counted in XML.
    xml_mb = by_step.get("dump", {}).get("xml_mb")
    for step, figures in by_step.items():
        if step.startswith("prep-wiki-") and xml_mb and figures.get("seconds"):
            lines.append(f"- {step}: {xml_mb / figures['seconds']:.1f} MB of dump XML a second "
                         f"({xml_mb:.0f} MB in {figures['seconds']} s)")
    return [""] + lines if lines else []


def report(folder, out):
    folder, out = Path(folder), Path(out)
    rows = []
    for line in (folder / "steps.tsv").read_text().splitlines():
        step, kind, rc, seconds, title, command = line.split("\t")
        log_path = folder / "logs" / f"{step}.log"
        log = log_path.read_text(errors="replace") if log_path.exists() else ""
        outcome = {"0": "passed", "skipped": "skipped: no time left", "124": "timed out", "137": "timed out"}.get(
            rc, f"failed (exit {rc})")
        rows.append(dict(step=step, kind=kind, title=title, command=command, exit=rc, outcome=outcome,
                         seconds=int(seconds), figures=figures(kind, log), log=log))
    meta = json.loads((folder / "meta.json").read_text())
    (out / "gpu-report.json").write_text(json.dumps(
        dict(meta=meta, steps=[{k: v for k, v in r.items() if k != "log"} for r in rows]), indent=2) + "\n")

    failed = [r for r in rows if r["exit"] != "0"]
    md = [f"# spe on {meta['device']}", "",
          f"{meta['date']}; spe at {meta['commit']}; {meta['mode']}; "
          f"{len(rows) - len(failed)} of {len(rows)} steps passed in {sum(r['seconds'] for r in rows)} s.", ""]
    md += [f"- {k}: {v}" for k, v in meta.items() if k not in ("device", "date", "commit", "mode")]
    md += ["", "| step | what | outcome | s | figures |", "| --- | --- | --- | ---: | --- |"]
    for r in rows:
        shown = ", ".join(f"{k} {v}" for k, v in r["figures"].items())
        md.append(f"| {r['step']} | {r['title']} | {r['outcome']} | {r['seconds']} | {shown} |")
    md += comparisons({r["step"]: r["figures"] for r in rows})
    md += ["", "## Each step: its command and the end of its output", ""]
    for r in rows:
        tail = "\n".join(r["log"].rstrip().splitlines()[-40:])
        md += [f"### {r['step']}: {r['title']} ({r['outcome']}, {r['seconds']} s)", "", "```text",
               f"$ {r['command']}", tail, "```", ""]
    (out / "gpu-report.md").write_text("\n".join(md))
    print(f"{out / 'gpu-report.md'}: {len(rows) - len(failed)} of {len(rows)} steps passed")
    return 1 if failed else 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "measure" and argv[1] == "--":
        return measure(argv[2:])
    if len(argv) == 3 and argv[0] == "minilm":
        return minilm(argv[1], argv[2])
    if len(argv) >= 3 and argv[0] == "same":
        return same(argv[1:])
    if len(argv) == 2 and argv[0] == "matmul":
        return matmul(int(argv[1]))
    if len(argv) == 3 and argv[0] == "rate":
        return rate(argv[1], argv[2])
    if len(argv) == 3 and argv[0] == "report":
        return report(argv[1], argv[2])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
