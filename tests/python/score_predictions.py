"""An independent scorer of DyGIE prediction files, written from the definitions of PURE
(Zhong and Chen, 2021) and of the span-pair paper's evaluation, to check spe's own scores.

Usage: score_predictions.py PREDICTIONS.json SYMMETRIC_TYPES(comma-separated, may be empty)

Prints {"ent": [gold, predicted, correct], "rel": [...], "rel_strict": [...]} as JSON.
- Ent: (start, end, type) exact.
- Rel: (head span, tail span, type) exact, both arguments predicted entities; a symmetric
  type's arguments are put in order first.
- Rel+: Rel with both arguments' types.
"""
import json
import sys


def score(path, symmetric):
    counts = {"ent": [0, 0, 0], "rel": [0, 0, 0], "rel_strict": [0, 0, 0]}

    def add(name, gold, predicted):
        counts[name][0] += len(gold)
        counts[name][1] += len(predicted)
        counts[name][2] += len(gold & predicted)

    def relations(rels, types):
        plain, strict = set(), set()
        for hs, he, ts, te, label in rels:
            head, tail = (hs, he), (ts, te)
            if head not in types or tail not in types:
                continue
            if label in symmetric and tail < head:
                head, tail = tail, head
            plain.add((head, tail, label))
            strict.add((head, types[head], tail, types[tail], label))
        return plain, strict

    with open(path) as f:
        for line in f:
            doc = json.loads(line)
            rows = zip(doc["ner"], doc["relations"], doc["predicted_ner"], doc["predicted_relations"])
            for ner, rels, pred_ner, pred_rels in rows:
                add("ent", {tuple(e) for e in ner}, {tuple(e) for e in pred_ner})
                gold_types = {(s, e): label for s, e, label in ner}
                pred_types = {(s, e): label for s, e, label in pred_ner}
                gold_plain, gold_strict = relations(rels, gold_types)
                pred_plain, pred_strict = relations(pred_rels, pred_types)
                add("rel", gold_plain, pred_plain)
                add("rel_strict", gold_strict, pred_strict)
    return counts


if __name__ == "__main__":
    symmetric = set(t for t in sys.argv[2].split(",") if t) if len(sys.argv) > 2 else set()
    print(json.dumps(score(sys.argv[1], symmetric)))
