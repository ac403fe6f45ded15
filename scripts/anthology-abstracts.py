"""The ACL Anthology's abstracts as a pre-training corpus in SciERC's domain, with nothing of
SciERC's dev and test splits in it.

Usage:
  anthology-abstracts.py --anthology GIT_DIR --commit COMMIT --scierc DIR --out DIR

GIT_DIR is a clone of the Anthology's repository (or a fork that holds its `data/xml`
folder, such as ir-anthology/acl-anthology); its files are read with `git show
COMMIT:data/xml/NAME.xml`, so no checkout is needed. DIR (--scierc) holds SciERC's
`dev.json` and `test.json` as released (DyGIE JSON lines). Nothing is downloaded.

Every `<paper>` with an `<abstract>` is one document, its id the paper's Anthology id (its
`<url>`, `P19-1001`), its text the abstract's, inline markup (`<fixed-case>`, `<tex-math>`)
flattened and white space collapsed. An abstract is dropped and counted when

- its id is the `doc_key` of a SciERC dev or test document (SciERC's ACL abstracts are
  keyed by their Anthology ids), or
- it holds a sentence of SciERC's dev or test split: both compared lower-cased with all
  white space removed and Penn Treebank escapes (`-LRB-`) undone, so that SciERC's
  tokenization and the Anthology's spacing compare alike; sentences of fewer than
  `MIN_SHARED_CHARS` characters so compared are too common to tell a paper by, and are not
  looked for, or
- its text repeats an abstract kept before (the same paper in two volumes).

The kept abstracts are written as spe prep books reads them, one abstract a file, so that
spe's own sentence splitter splits them and each document's id is `COLLECTION/ID.txt`:
`OUT/train/COLLECTION/ID.txt`, and for a held-out slice that pre-training never reads, to
measure what it learned on text it has not seen, `OUT/held-out/...`: the abstracts whose
id's SHA-256, read as a number, is 0 modulo `HELD_OUT_EVERY`. `OUT/anthology-abstracts.json`
records the source commit, every XML file read with its size and SHA-256, and the counts;
data-manifests/acl-anthology-abstracts.toml holds them.
"""
import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

MIN_SHARED_CHARS = 40
HELD_OUT_EVERY = 100
PTB = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}", "``": '"', "''": '"'}


def normalized(text):
    """Lower case, no white space."""
    return re.sub(r"\s+", "", text).lower()


def scierc_held_out(scierc_dir):
    """The doc_keys and the normalized sentences of SciERC's dev and test splits."""
    keys, sentences = set(), set()
    for split in ("dev", "test"):
        with open(os.path.join(scierc_dir, f"{split}.json"), encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                doc = json.loads(line)
                keys.add(doc["doc_key"])
                for words in doc["sentences"]:
                    text = normalized("".join(PTB.get(w, w) for w in words))
                    if len(text) >= MIN_SHARED_CHARS:
                        sentences.add(text)
    return keys, sentences


def git(anthology, *args):
    return subprocess.run(["git", "-C", anthology, *args], check=True, capture_output=True).stdout


def papers(xml_bytes):
    """(Anthology id, abstract text) of every paper of a collection file with an abstract."""
    root = ET.fromstring(xml_bytes)
    collection = root.get("id")
    for volume in root.iter("volume"):
        for paper in volume.iter("paper"):
            abstract = paper.find("abstract")
            if abstract is None:
                continue
            url = paper.find("url")
            if url is not None and url.text and not url.text.startswith("http"):
                pid = url.text.strip()
            elif "." in collection:
                pid = f"{collection}-{volume.get('id')}.{paper.get('id')}"
            else:
                pid = f"{collection}-{volume.get('id')}{int(paper.get('id')):03d}"
            text = re.sub(r"\s+", " ", "".join(abstract.itertext())).strip()
            if text:
                yield pid, text


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--anthology", required=True, help="a clone of the Anthology's repository (git dir)")
    p.add_argument("--commit", required=True, help="the commit whose data/xml is read")
    p.add_argument("--scierc", required=True, help="SciERC's release folder (dev.json, test.json)")
    p.add_argument("--out", required=True, help="the folder to write, as spe prep books reads it")
    args = p.parse_args()
    if os.path.exists(args.out):
        sys.exit(f"{args.out} exists; choose a new folder")
    keys, evaluation = scierc_held_out(args.scierc)
    commit = git(args.anthology, "rev-parse", args.commit).decode().strip()
    listing = git(args.anthology, "ls-tree", "-l", f"{commit}:data/xml").decode().splitlines()
    names = sorted(line.split()[-1] for line in listing if line.endswith(".xml"))
    counts = {"xml_files": len(names), "abstracts": 0, "kept": 0, "held_out": 0, "dropped_scierc_key": 0,
              "dropped_scierc_sentence": 0, "dropped_repeated": 0, "characters_kept": 0}
    files, seen = [], set()
    for name in names:
        data = git(args.anthology, "show", f"{commit}:data/xml/{name}")
        files.append({"path": f"data/xml/{name}", "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()})
        for pid, text in papers(data):
            counts["abstracts"] += 1
            flat = normalized(text)
            if pid in keys:
                counts["dropped_scierc_key"] += 1
            elif any(s in flat for s in evaluation):
                counts["dropped_scierc_sentence"] += 1
            elif flat in seen:
                counts["dropped_repeated"] += 1
            else:
                seen.add(flat)
                counts["kept"] += 1
                counts["characters_kept"] += len(text)
                held_out = int(hashlib.sha256(pid.encode()).hexdigest(), 16) % HELD_OUT_EVERY == 0
                counts["held_out"] += held_out
                part = "held-out" if held_out else "train"
                folder = os.path.join(args.out, part, name[: -len(".xml")])
                os.makedirs(folder, exist_ok=True)
                with open(os.path.join(folder, f"{pid}.txt"), "w", encoding="utf-8") as f:
                    f.write(text + "\n")
    record = {"source": "ir-anthology/acl-anthology", "commit": commit, "min_shared_chars": MIN_SHARED_CHARS,
              "held_out_every": HELD_OUT_EVERY, "counts": counts, "files": files}
    report = os.path.join(args.out, "anthology-abstracts.json")
    with open(report, "w", encoding="utf-8") as f:
        json.dump(record, f, indent=2)
        f.write("\n")
    print(json.dumps(counts, indent=2))


if __name__ == "__main__":
    main()
