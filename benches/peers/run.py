"""spe against SpERT (lavis-nlp/spert) on the same corpus, encoder, epochs and seed, both
scored by one independent scorer (tests/python/score_predictions.py, PURE's definitions).

Usage:
  run.py run --system spe|spert --data DIR --name NAME --bert MODEL --epochs N --seed S \
             [--spert CHECKOUT] [--work DIR] [--set KEY=VALUE ... --variant NAME] [--spe BINARY]
  run.py table [RESULTS_DIR]
  run.py breakdown PREDICTIONS
  run.py reach PEER_RESULT SPE_RESULT
  run.py bilou SRC_DIR NAME OUT_DIR

DIR holds the corpus in SpERT's format as it is shared: NAME_train.json, NAME_dev.json,
NAME_test.json and NAME_types.json. MODEL is a Hugging Face BERT directory (config.json,
model.safetensors, vocab.txt). CHECKOUT is a SpERT checkout at commit a53f468b. Nothing is
downloaded: SpERT needs PyTorch, transformers, scikit-learn, tqdm and Jinja2 in the Python
that runs this script (spe's .venv after `pip install scikit-learn`).

SpERT is run from a copy of the checkout, patched there for the PyTorch and transformers of
today and never changed in place: transformers 5 removed the `AdamW` SpERT imports, which
it called with `correct_bias=False` (Adam without bias correction, which torch.optim.AdamW
cannot do), so the copy gets that optimizer, as transformers 4 wrote it, from a module of
its own (see `patch_spert`). Each system runs with its own defaults: SpERT with its example
configuration (configs/example_train.conf: batch 2, lr 5e-5, 10% warm-up, 100 negative
spans and pairs, spans of at most 10 words), spe with `spe finetune`'s defaults. Only the
data, encoder, epochs and seed are set, and --cpu for SpERT.

Each run writes results/NAME-SYSTEM-eN-sS[-VARIANT].json beside this script (a run with
--set names its VARIANT): the test scores (Ent, Rel, Rel+ with their counts), the dev
scores of the model each system keeps (SpERT's last, spe's best epoch), both from the same
scorer, the training and prediction wall-clock seconds and sentences per second, the
commands, and the machine's load before the run; spe's also keep its dev scores after
every epoch with the seconds since its command started (`dev_curve`). `run.py table`
prints the mean and sample standard deviation of every figure over the seeds of each
(corpus, system and variant, epochs). `run.py reach` says when spe's dev curve first
reached the dev scores of a peer's run, against the seconds the peer's training took to
reach them (SpERT scores its dev split once, after its last epoch, so that is its time).

`run.py bilou` writes a corpus shared with BILOU tags per token (`tags`, as TablERT
shares CoNLL04) in SpERT's format: each tagged span an entity, in the order of its first
token, which is the order the relations' `head` and `tail` index.
"""
import argparse
import dataclasses
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "python"))
from score_predictions import score  # noqa: E402

SPERT_COMMIT = "a53f468b"

# transformers 4's AdamW (transformers/optimization.py), which SpERT calls with
# correct_bias=False; transformers 5 removed it.
ADAMW = '''import math
import torch


class AdamW(torch.optim.Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-6, weight_decay=0.0, correct_bias=True):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      correct_bias=correct_bias))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.mul_(beta1).add_(p.grad, alpha=1.0 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(p.grad, p.grad, value=1.0 - beta2)
                denom = exp_avg_sq.sqrt().add_(group["eps"])
                step_size = group["lr"]
                if group["correct_bias"]:
                    step_size *= math.sqrt(1.0 - beta2 ** state["step"]) / (1.0 - beta1 ** state["step"])
                p.addcdiv_(exp_avg, denom, value=-step_size)
                if group["weight_decay"] > 0.0:
                    p.add_(p, alpha=-group["lr"] * group["weight_decay"])
'''

# (file, text in SpERT a53f468b, replacement): the least that today's libraries need.
PATCHES = [
    ("spert/spert_trainer.py", "from transformers import AdamW, BertConfig",
     "from transformers import BertConfig\nfrom spe_adamw import AdamW"),
    # transformers 5 finishes a model's set-up (tied weights included) in post_init(),
    # which calls init_weights().
    ("spert/models.py", "        self.init_weights()", "        self.post_init()"),
    # Its version check reads pytorch_model.bin; checkpoints saved by transformers 5 (and
    # all-MiniLM-L6-v2's) are model.safetensors only.
    ("spert/util.py", "        state_dict = torch.load(model_path, map_location=torch.device('cpu'))",
     "        if not os.path.exists(model_path):\n            return\n"
     "        state_dict = torch.load(model_path, map_location=torch.device('cpu'))"),
]


def patch_spert(checkout, work):
    """A patched copy of the SpERT checkout under work/spert-src."""
    src = os.path.join(work, "spert-src")
    if os.path.exists(src):
        shutil.rmtree(src)
    shutil.copytree(checkout, src, ignore=shutil.ignore_patterns(".git"))
    for path, old, new in PATCHES:
        full = os.path.join(src, path)
        with open(full) as f:
            text = f.read()
        if old not in text:
            sys.exit(f"{full}: expected {old!r}: is {checkout} SpERT at commit {SPERT_COMMIT}?")
        with open(full, "w") as f:
            f.write(text.replace(old, new))
    with open(os.path.join(src, "spe_adamw.py"), "w") as f:
        f.write(ADAMW)
    return src


def load():
    try:
        return os.getloadavg()
    except OSError:
        return None


def timed(command, **kwargs):
    print("+", " ".join(command), flush=True)
    started = time.monotonic()
    # Offline: both systems read the encoder from its directory, never from a hub.
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    subprocess.run(command, check=True, env=env, **kwargs)
    return time.monotonic() - started


def one(pattern, what):
    """The one file matching `pattern`; SpERT runs in a child process and exits 0 when it
    failed, so a missing output is how a failure shows."""
    found = glob.glob(pattern)
    if len(found) != 1:
        sys.exit(f"SpERT's {what} is not where it writes it ({pattern}): see its output above")
    return found[0]


def spert_to_dygie(gold_path, predicted_path, out_path):
    """SpERT's gold and predicted sentences as DyGIE lines with predictions, one sentence a
    document, inclusive ends, for the scorer."""
    with open(gold_path) as f:
        gold = json.load(f)
    with open(predicted_path) as f:
        predicted = json.load(f)
    if len(gold) != len(predicted):
        sys.exit(f"{predicted_path}: {len(predicted)} sentences, but {gold_path} has {len(gold)}")

    def ner(sentence):
        return [[e["start"], e["end"] - 1, e["type"]] for e in sentence["entities"]]

    def relations(sentence):
        out = []
        for r in sentence["relations"]:
            h, t = sentence["entities"][r["head"]], sentence["entities"][r["tail"]]
            out.append([h["start"], h["end"] - 1, t["start"], t["end"] - 1, r["type"]])
        return out

    with open(out_path, "w") as f:
        for i, (g, p) in enumerate(zip(gold, predicted)):
            if g["tokens"] != p["tokens"]:
                sys.exit(f"{predicted_path}: sentence {i} has other tokens than {gold_path}'s")
            doc = {"doc_key": str(i), "sentences": [g["tokens"]], "ner": [ner(g)], "relations": [relations(g)],
                   "predicted_ner": [ner(p)], "predicted_relations": [relations(p)]}
            f.write(json.dumps(doc) + "\n")


def f1(counts):
    gold, predicted, right = counts
    p = right / predicted if predicted else 0.0
    r = right / gold if gold else 0.0
    return {"p": 100 * p, "r": 100 * r, "f1": 100 * (2 * p * r / (p + r) if p + r else 0.0),
            "gold": gold, "predicted": predicted, "right": right}


def breakdown(path):
    """Where each system's entity and relation F1 is lost, from one scorer input: per entity
    type (gold, predicted, right); the wrong entity predictions by kind (a gold span with
    another type, a span overlapping a gold entity of its type with other boundaries,
    another overlap, no gold entity near); the missed gold entities that no prediction
    touches; and how many gold relations had both arguments' spans predicted (what Rel can
    find at most) and both typed right (what Rel+ can find at most)."""
    types, wrong = {}, {"other_type": 0, "boundary": 0, "overlap": 0, "spurious": 0}
    missed_untouched = 0
    relations = {"gold": 0, "arguments_found": 0, "arguments_typed": 0}
    with open(path) as f:
        for line in f:
            doc = json.loads(line)
            for ner, rels, pred_ner in zip(doc["ner"], doc["relations"], doc["predicted_ner"]):
                gold = {(s, e): t for s, e, t in ner}
                predicted = {(s, e): t for s, e, t in pred_ner}
                for t in set(gold.values()) | set(predicted.values()):
                    types.setdefault(t, [0, 0, 0])
                for span, t in gold.items():
                    types[t][0] += 1
                    types[t][2] += predicted.get(span) == t
                    if not any(s <= span[1] and span[0] <= e for s, e in predicted):
                        missed_untouched += 1
                for (s, e), t in predicted.items():
                    types[t][1] += 1
                    if gold.get((s, e)) == t:
                        continue
                    near = [g for (gs, ge), g in gold.items() if gs <= e and s <= ge]
                    kind = ("other_type" if (s, e) in gold else "boundary" if t in near
                            else "overlap" if near else "spurious")
                    wrong[kind] += 1
                for hs, he, ts, te, _ in rels:
                    relations["gold"] += 1
                    head, tail = (hs, he), (ts, te)
                    if head in predicted and tail in predicted:
                        relations["arguments_found"] += 1
                        relations["arguments_typed"] += (predicted[head] == gold.get(head)
                                                         and predicted[tail] == gold.get(tail))
    return {"entity_types": {t: f1(c) for t, c in sorted(types.items())}, "wrong_entities": wrong,
            "missed_entities_untouched": missed_untouched, "relations": relations}


def sentences(path):
    with open(path) as f:
        return len(json.load(f))


@dataclasses.dataclass
class Outcome:
    """What one system's run leaves: its scorer inputs for test and dev, its seconds, its
    commands and, for spe, its dev curve."""
    test: str
    dev: str
    train_s: float
    predict_s: float
    commands: list
    curve: list | None


def run_spert(args, files, symmetric, work):
    src = patch_spert(args.spert, work)
    logs, saves = os.path.join(work, "log"), os.path.join(work, "save")
    common = ["--types_path", files["types"], "--tokenizer_path", args.bert, "--cpu", "--seed", str(args.seed),
              "--max_span_size", "10", "--size_embedding", "25", "--prop_drop", "0.1", "--max_pairs", "1000",
              "--rel_filter_threshold", "0.4", "--sampling_processes", "4", "--eval_batch_size", "1",
              "--log_path", logs, "--store_predictions"]
    if args.lowercase:
        common.append("--lowercase")
    train = [sys.executable, "spert.py", "train", "--label", "train", "--model_path", args.bert,
             "--train_path", files["train"], "--valid_path", files["dev"], "--save_path", saves,
             "--train_batch_size", "2", "--neg_entity_count", "100", "--neg_relation_count", "100",
             "--epochs", str(args.epochs), "--lr", "5e-5", "--lr_warmup", "0.1", "--weight_decay", "0.01",
             "--max_grad_norm", "1.0", "--final_eval"] + common
    train_s = timed(train, cwd=src)
    model = one(os.path.join(saves, "train", "*", "final_model"), "trained model")
    dev_scorer_input = os.path.join(work, "predictions-dev.json")
    spert_to_dygie(files["dev"], one(os.path.join(logs, "train", "*", f"predictions_valid_epoch_{args.epochs}.json"),
                                     "last dev predictions"), dev_scorer_input)
    evaluate = [sys.executable, "spert.py", "eval", "--label", "test", "--model_path", model,
                "--dataset_path", files["test"]] + common
    predict_s = timed(evaluate, cwd=src)
    predictions = one(os.path.join(logs, "test", "*", "predictions_test_epoch_0.json"), "test predictions")
    scorer_input = os.path.join(work, "predictions-test.json")
    spert_to_dygie(files["test"], predictions, scorer_input)
    return Outcome(scorer_input, dev_scorer_input, train_s, predict_s, [train, evaluate], None)


def run_spe(args, files, symmetric, work):
    spe = args.spe
    data, run = os.path.join(work, "data"), os.path.join(work, "run")
    prep = [spe, "prep", "labeled", "--train", files["train"], "--dev", files["dev"], "--test", files["test"],
            "--types", files["types"], "--tokenizer", os.path.join(args.bert, "vocab.txt"), "--out", data,
            "--force"] + (["--allow-split-overlap"] if args.allow_split_overlap else [])
    timed(prep)
    sets = [x for kv in args.set for x in ("--set", kv)]
    finetune = [spe, "finetune", "--data", data, "--encoder", args.bert, "--out", run, "--device", "cpu",
                "--set", f"epochs={args.epochs}", "--set", f"patience={args.epochs}",
                "--set", f"seed={args.seed}"] + sets
    train_s = timed(finetune)
    predictions = {split: os.path.join(work, f"predictions-{split}.json") for split in ["test", "dev"]}
    evaluate = {split: [spe, "evaluate", "--model", os.path.join(run, "model"), "--data", data, "--split", split,
                        "--device", "cpu", "--out", out] for split, out in predictions.items()}
    predict_s = timed(evaluate["test"])
    timed(evaluate["dev"])
    return Outcome(predictions["test"], predictions["dev"], train_s, predict_s,
                   [prep, finetune, evaluate["test"], evaluate["dev"]], dev_curve(run, train_s))


def dev_curve(run, train_s):
    """spe's dev scores after each epoch, from the run's metrics.jsonl, each with the seconds
    since `spe finetune` started: the run's own clock plus its start-up, taken as the
    command's seconds less the clock's last reading (which also counts the closing work,
    so the times are if anything late)."""
    with open(os.path.join(run, "metrics.jsonl")) as f:
        epochs = [r for r in map(json.loads, f) if "dev_ent_f1" in r]
    if not epochs:
        sys.exit(f"{run}/metrics.jsonl holds no epoch's dev scores")
    startup = train_s - epochs[-1]["elapsed_s"]
    return [{"epoch": r["epoch"], "seconds": r["elapsed_s"] + startup, "ent": 100 * r["dev_ent_f1"],
             "rel": 100 * r["dev_rel_f1"], "rel_strict": 100 * r["dev_rel_strict_f1"]} for r in epochs]


def encoder_name(path):
    """The encoder's folder name, or its parent's where the folder is a package's `model/`."""
    path = os.path.normpath(path)
    name = os.path.basename(path)
    return os.path.basename(os.path.dirname(path)) if name == "model" else name


def shown(command, args, work):
    """A command as it is recorded: the machine's own folders by name."""
    text = " ".join(command)
    places = [(work, "WORK"), (args.data, "DATA"), (args.bert, "BERT"), (args.spert, "SPERT"), (REPO, "."),
              (sys.executable, "python")]
    if os.path.dirname(os.path.abspath(args.spe)) != os.path.join(REPO, "target", "release"):
        places.append((os.path.dirname(os.path.abspath(args.spe)), "SPE_BIN"))
    for path, name in sorted(((p, n) for p, n in places if p), key=lambda x: -len(x[0])):
        text = text.replace(path, name)
    return text


def run(args):
    args.bert, args.data = os.path.abspath(args.bert), os.path.abspath(args.data)
    args.spert = args.spert and os.path.abspath(args.spert)
    files = {split: os.path.join(args.data, f"{args.name}_{split}.json") for split in ["train", "dev", "test"]}
    files["types"] = os.path.join(args.data, f"{args.name}_types.json")
    for path in files.values():
        if not os.path.isfile(path):
            sys.exit(f"{path} is missing: --data holds NAME_train.json, _dev, _test and _types")
    if args.system == "spert" and not args.spert:
        sys.exit("--spert CHECKOUT is needed to run SpERT")
    with open(files["types"]) as f:
        types = json.load(f)
    symmetric = {name for name, t in types["relations"].items() if t.get("symmetric")}
    if args.set and not args.variant:
        sys.exit("--set changes spe's defaults: name the variant with --variant, so its result is kept apart")
    tag = f"{args.name}-{args.system}-e{args.epochs}-s{args.seed}" + (f"-{args.variant}" if args.variant else "")
    work = os.path.abspath(args.work or os.path.join(REPO, "target", "peers", tag))
    if os.path.exists(work):
        shutil.rmtree(work)
    os.makedirs(work)
    before = load()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    runner = run_spert if args.system == "spert" else run_spe
    outcome = runner(args, files, symmetric, work)
    counts, dev = score(outcome.test, symmetric), score(outcome.dev, symmetric)
    train_s, predict_s = outcome.train_s, outcome.predict_s
    train_n, test_n = sentences(files["train"]), sentences(files["test"])
    result = {
        "corpus": args.name, "system": args.system, "epochs": args.epochs, "seed": args.seed,
        "encoder": encoder_name(args.bert), "started": started, "load_before": before,
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "ent": f1(counts["ent"]), "rel": f1(counts["rel"]), "rel_strict": f1(counts["rel_strict"]),
        "train_seconds": train_s, "train_sentences_per_s": train_n * args.epochs / train_s,
        "predict_seconds": predict_s, "predict_sentences_per_s": test_n / predict_s,
        "dev": {k: f1(dev[k]) for k in ["ent", "rel", "rel_strict"]}, "dev_curve": outcome.curve,
        "commands": [shown(c, args, work) for c in outcome.commands], "settings": args.set,
        "variant": args.variant, "breakdown": breakdown(outcome.test),
    }
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    out = os.path.join(HERE, "results", f"{tag}.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(json.dumps({k: result[k] for k in ["ent", "rel", "rel_strict"]}, indent=1))
    print(f"wrote {out}")


def table(args):
    groups = {}
    for path in sorted(glob.glob(os.path.join(args.results, "*.json"))):
        with open(path) as f:
            r = json.load(f)
        system = r["system"] + (f" ({r['variant']})" if r.get("variant") else "")
        groups.setdefault((r["corpus"], r["encoder"], r["epochs"], system), []).append(r)

    def cell(values, digits=2):
        mean = statistics.mean(values)
        sd = statistics.stdev(values) if len(values) > 1 else None
        return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "")

    print("| corpus | encoder | epochs | system | seeds | Ent | Rel | Rel+ | train sent/s | predict sent/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (corpus, encoder, epochs, system), runs in sorted(groups.items()):
        seeds = ",".join(str(r["seed"]) for r in runs)
        scores = [cell([r[k]["f1"] for r in runs]) for k in ["ent", "rel", "rel_strict"]]
        speed = [cell([r[k] for r in runs], 1) for k in ["train_sentences_per_s", "predict_sentences_per_s"]]
        print(f"| {corpus} | {encoder} | {epochs} | {system} | {seeds} | " + " | ".join(scores + speed) + " |")


def reach(args):
    """When spe's dev curve first reached the peer's dev scores."""
    with open(args.peer) as f:
        peer = json.load(f)
    with open(args.spe) as f:
        spe = json.load(f)
    for r, path in [(peer, args.peer), (spe, args.spe)]:
        if "dev" not in r:
            sys.exit(f"{path} predates the dev scores: run it again")
    if not spe.get("dev_curve"):
        sys.exit(f"{args.spe} has no dev curve: it is not a run of spe")
    if (peer["corpus"], peer["encoder"]) != (spe["corpus"], spe["encoder"]):
        sys.exit("the two runs have another corpus or encoder")
    print(f"{peer['system']}, {peer['epochs']} epochs, seed {peer['seed']}: dev scores after "
          f"{peer['train_seconds']:.0f} s of training")
    print("| measure | peer's dev F1 | spe's first epoch at it | spe's seconds | spe's best dev F1 (epoch) |")
    print("|---|---|---|---|---|")
    for key, name in [("ent", "Ent"), ("rel", "Rel"), ("rel_strict", "Rel+")]:
        target = peer["dev"][key]["f1"]
        first = next((e for e in spe["dev_curve"] if e[key] >= target), None)
        best = max(spe["dev_curve"], key=lambda e: e[key])
        at = (f"{first['epoch']} | {first['seconds']:.0f} ({first['seconds'] / peer['train_seconds']:.2f}×)"
              if first else "not reached | –")
        print(f"| {name} | {target:.2f} | {at} | {best[key]:.2f} ({best['epoch']}) |")


def bilou(args):
    """A corpus with BILOU tags in SpERT's format (see the module's docs)."""
    os.makedirs(args.out, exist_ok=True)
    for split in ["train", "dev", "test", "types"]:
        src = os.path.join(args.src, f"{args.name}_{split}.json")
        dst = os.path.join(args.out, f"{args.name}_{split}.json")
        if os.path.exists(dst):
            sys.exit(f"{dst} exists: give an empty --out")
        with open(src) as f:
            data = json.load(f)
        if split != "types":
            data = [bilou_sentence(s, src, i) for i, s in enumerate(data)]
        with open(dst, "w") as f:
            json.dump(data, f)
        print(f"wrote {dst}")


def bilou_sentence(sentence, path, index):
    tags, entities, start, open_type = sentence["tags"], [], None, None
    if len(tags) != len(sentence["tokens"]):
        sys.exit(f"{path}: sentence {index} has {len(tags)} tags for {len(sentence['tokens'])} tokens")
    for i, tag in enumerate(tags):
        kind, _, tag_type = tag.partition("-")
        inside = start is not None
        fits = {"O": not inside, "B": not inside, "U": not inside,
                "I": inside and tag_type == open_type, "L": inside and tag_type == open_type}.get(kind, False)
        if not fits or (kind != "O" and not tag_type):
            sys.exit(f"{path}: sentence {index}, token {i}: tag {tag!r} cannot follow "
                     f"{tags[i - 1] if i else 'the start'!r}")
        if kind == "B":
            start, open_type = i, tag_type
        elif kind == "U":
            entities.append({"type": tag_type, "start": i, "end": i + 1})
        elif kind == "L":
            entities.append({"type": tag_type, "start": start, "end": i + 1})
            start = None
    if start is not None:
        sys.exit(f"{path}: sentence {index}: an entity from token {start} is never closed")
    for r in sentence["relations"]:
        if not (0 <= r["head"] < len(entities) and 0 <= r["tail"] < len(entities)):
            sys.exit(f"{path}: sentence {index}: relation {r} names an entity of {len(entities)}")
    out = {"tokens": sentence["tokens"], "entities": entities, "relations": sentence["relations"]}
    if "orig_id" in sentence:
        out["orig_id"] = sentence["orig_id"]
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    r = commands.add_parser("run", help="train and score one system once")
    r.add_argument("--system", choices=["spe", "spert"], required=True)
    r.add_argument("--data", required=True, help="the folder of NAME_train.json, _dev, _test and _types")
    r.add_argument("--name", required=True, help="the corpus's file prefix (scierc, conll04, ade_split_0, …)")
    r.add_argument("--bert", required=True, help="a Hugging Face BERT directory")
    r.add_argument("--epochs", type=int, required=True)
    r.add_argument("--seed", type=int, required=True)
    r.add_argument("--spert", help="a SpERT checkout at commit " + SPERT_COMMIT)
    r.add_argument("--work", help="scratch folder (target/peers/TAG by default)")
    r.add_argument("--lowercase", action="store_true", help="SpERT's --lowercase, for an uncased BERT")
    r.add_argument("--allow-split-overlap", action="store_true",
                   help="spe prep's --allow-split-overlap, for a corpus whose splits share sentences (CoNLL04's)")
    r.add_argument("--set", action="append", default=[], help="a spe finetune --set override")
    r.add_argument("--variant", help="a name for the --set overrides, kept in the result's file name")
    r.add_argument("--spe", default=os.path.join(REPO, "target", "release", "spe"),
                   help="the spe binary (target/release/spe by default), its spe-trainer beside it")
    b = commands.add_parser("breakdown", help="where the F1 of one scorer input is lost")
    b.add_argument("predictions", help="a scorer input: DyGIE lines with predicted_ner and predicted_relations")
    w = commands.add_parser("reach", help="when spe's dev curve reached a peer's dev scores")
    w.add_argument("peer", help="the peer's result file")
    w.add_argument("spe", help="spe's result file, on the same corpus and encoder")
    c = commands.add_parser("bilou", help="a corpus with BILOU tags in SpERT's format")
    c.add_argument("src", help="the folder of NAME_train.json, _dev, _test (tokens, tags, relations) and _types")
    c.add_argument("name")
    c.add_argument("out")
    t = commands.add_parser("table", help="the mean ± sd of the results over seeds")
    t.add_argument("results", nargs="?", default=os.path.join(HERE, "results"))
    args = parser.parse_args()
    if args.command == "run":
        run(args)
    elif args.command == "reach":
        reach(args)
    elif args.command == "bilou":
        bilou(args)
    elif args.command == "breakdown":
        print(json.dumps(breakdown(args.predictions), indent=1))
    else:
        table(args)


if __name__ == "__main__":
    main()
