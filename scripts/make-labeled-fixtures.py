#!/usr/bin/env python3
"""Writes the hand-made labeled test fixtures under tests/fixtures/: one small ACE05-like
corpus (invented sentences, ACE05's label sets) in the three formats spe reads (DyGIE JSON
lines, NERE sentence JSON lines, brat standoff with id lists), and a small NYT corpus in
the layout of its real release (ARNOR). ACE05 itself is licensed by the LDC and is never shipped.

Usage: scripts/make-labeled-fixtures.py [OUT_DIR]   (default: tests/fixtures)
"""
import json
import os
import sys

PUNCT = {",", ".", "'s"}

# (doc id, [(words, [(start, end_exclusive, label)], [(head, tail, label)])])
ACE05 = {
    "train": [
        ("APW_FIX_001", [
            ("John Smith , a reporter for the Baghdad bureau , met his wife in Paris .".split(),
             [(0, 2, "PER"), (4, 5, "PER"), (6, 9, "ORG"), (7, 8, "GPE"), (11, 12, "PER"), (11, 13, "PER"),
              (14, 15, "GPE")],
             [(1, 2, "ORG-AFF"), (2, 3, "PART-WHOLE"), (5, 0, "PER-SOC"), (0, 5, "PER-SOC"), (0, 6, "PHYS")]),
            ("They returned to Washington on Monday .".split(),
             [(0, 1, "PER"), (3, 4, "GPE")],
             [(0, 1, "PHYS")]),
        ]),
        ("CNN_FIX_002", [
            ("The army fired two missiles at the base .".split(),
             [(1, 2, "ORG"), (4, 5, "WEA"), (7, 8, "FAC")],
             [(0, 1, "ART")]),
        ]),
    ],
    "dev": [
        ("NYT_FIX_003", [
            ("A Ford truck carried the troops from Kuwait .".split(),
             [(1, 3, "VEH"), (1, 2, "ORG"), (5, 6, "PER"), (7, 8, "GPE")],
             [(1, 0, "ART"), (2, 3, "PHYS")]),
        ]),
    ],
    "test": [
        ("AFP_FIX_004", [
            ("Her brother lives in Lyon .".split(),
             [(0, 1, "PER"), (0, 2, "PER"), (4, 5, "GPE")],
             [(0, 1, "PER-SOC"), (1, 2, "PHYS")]),
            ("The city council met on Friday .".split(),
             [(1, 3, "ORG"), (1, 2, "GPE")],
             [(0, 1, "PART-WHOLE")]),
        ]),
    ],
}

# NYT in the layout of the real release (ARNOR; CoType before it): `start` is the
# mention's ordinal, with gaps, not a position; mentions are found by their text; sentText
# ends with \r\n and may glue a quote to a word; every related pair also appears reversed
# with the label None; texts can repeat. Invented sentences.
# (article id, sentence, [(ordinal, label, text)], [(em1 text, em2 text, label, is_noise)])
NYT = {
    "train": [
        ("1", "He moved from Boston , Massachusetts to Paris , France .",
         [(0, "LOCATION", "Boston"), (1, "LOCATION", "Massachusetts"), (2, "LOCATION", "Paris"),
          (3, "LOCATION", "France")],
         [("Massachusetts", "Boston", "/location/location/contains", None),
          ("Boston", "Massachusetts", "None", None),
          ("France", "Paris", "/location/location/contains", None),
          ("Paris", "France", "None", None)]),
        ("1", "\"Barack Obama was born in Honolulu , '' his aide said .",
         [(0, "PERSON", "Barack Obama"), (2, "LOCATION", "Honolulu")],
         [("Barack Obama", "Honolulu", "/people/person/place_of_birth", None),
          ("Honolulu", "Barack Obama", "None", None)]),
        ("2", "Steve Jobs founded Apple , and Apple moved to Cupertino .",
         [(0, "PERSON", "Steve Jobs"), (1, "ORGANIZATION", "Apple"), (3, "ORGANIZATION", "Apple"),
          (5, "LOCATION", "Cupertino")],
         [("Steve Jobs", "Apple", "/business/person/company", None),
          ("Apple", "Steve Jobs", "None", None)]),
    ],
    # The second line names a mention whose text is not in its sentence: a bad record for
    # labeled shards, harmless for pre-training text.
    "dev": [
        ("4", "The Red Sox beat the Yankees in Boston .",
         [(0, "ORGANIZATION", "Red Sox"), (1, "LOCATION", "Boston")],
         [("Red Sox", "Boston", "/business/company/place_founded", None),
          ("Boston", "Red Sox", "None", None)]),
        ("4", "Fenway Park opened in 1912 .",
         [(0, "LOCATION", "Fenway Park"), (1, "LOCATION", "Fenway Stadium")],
         []),
    ],
    "test": [
        ("3", "Mayor Daley spoke in Chicago on Tuesday .",
         [(1, "PERSON", "Daley"), (4, "LOCATION", "Chicago")],
         [("Daley", "Chicago", "/people/person/place_lived", False),
          ("Chicago", "Daley", "None", False),
          ("Daley", "Chicago", "/people/person/place_of_birth", True)]),
    ],
}


def natural(words):
    """The sentence as prose: no space before punctuation."""
    text, offsets = "", []
    for w in words:
        if text and w not in PUNCT:
            text += " "
        offsets.append((len(text), len(text) + len(w)))
        text += w
    return text, offsets


def write_ace05(out):
    for layout in ("dygie", "nere", "brat"):
        os.makedirs(os.path.join(out, "ace05", layout), exist_ok=True)
    for split, docs in ACE05.items():
        with open(os.path.join(out, "ace05", "dygie", f"{split}.json"), "w") as f:
            for doc_id, sentences in docs:
                offset, ner, rels = 0, [], []
                for words, ents, rs in sentences:
                    ner.append([[offset + s, offset + e - 1, l] for s, e, l in ents])
                    rels.append([[offset + ents[h][0], offset + ents[h][1] - 1, offset + ents[t][0],
                                  offset + ents[t][1] - 1, l] for h, t, l in rs])
                    offset += len(words)
                record = {"doc_key": doc_id, "dataset": "ace05", "sentences": [s[0] for s in sentences],
                          "ner": ner, "relations": rels, "clusters": []}
                f.write(json.dumps(record) + "\n")
        with open(os.path.join(out, "ace05", "nere", f"{split}.json"), "w") as f:
            for doc_id, sentences in docs:
                for i, (words, ents, rs) in enumerate(sentences):
                    text = lambda s, e: " ".join(words[s:e])
                    record = {
                        "sentText": " ".join(words), "articleId": doc_id, "sentId": str(i),
                        "entityMentions": [{"emId": f"m{j}", "text": text(s, e), "offset": [s, e], "label": l}
                                           for j, (s, e, l) in enumerate(ents)],
                        "relationMentions": [{"em1Id": f"m{h}", "em2Id": f"m{t}", "em1Text": text(*ents[h][:2]),
                                              "em2Text": text(*ents[t][:2]), "label": l} for h, t, l in rs],
                    }
                    f.write(json.dumps(record) + "\n")
        with open(os.path.join(out, "ace05", "brat", f"{split}.txt"), "w") as f:
            f.write("".join(doc_id + "\n" for doc_id, _ in docs))
        for doc_id, sentences in docs:
            lines, ann, base, t, r = [], [], 0, 0, 0
            for words, ents, rs in sentences:
                text, offsets = natural(words)
                ids = []
                for s, e, l in ents:
                    t += 1
                    start, end = base + offsets[s][0], base + offsets[e - 1][1]
                    ann.append(f"T{t}\t{l} {start} {end}\t{text[offsets[s][0]:offsets[e - 1][1]]}")
                    ids.append(f"T{t}")
                for h, tl, l in rs:
                    r += 1
                    ann.append(f"R{r}\t{l} Arg1:{ids[h]} Arg2:{ids[tl]}")
                lines.append(text)
                base += len(text) + 1
            with open(os.path.join(out, "ace05", "brat", f"{doc_id}.split.txt"), "w") as f:
                f.write("\n".join(lines) + "\n")
            with open(os.path.join(out, "ace05", "brat", f"{doc_id}.split.ann"), "w") as f:
                f.write("\n".join(ann) + "\n")


def write_nyt(out):
    os.makedirs(os.path.join(out, "nyt"), exist_ok=True)
    sent_id = 0
    for split, sentences in NYT.items():
        with open(os.path.join(out, "nyt", f"{split}.json"), "w", newline="") as f:
            for article, text, mentions, relations in sentences:
                sent_id += 1
                rels = []
                for em1, em2, label, noise in relations:
                    rel = {"em1Text": em1, "em2Text": em2, "label": label}
                    if noise is not None:
                        rel["is_noise"] = noise
                    rels.append(rel)
                record = {"sentId": sent_id, "articleId": article, "sentText": text + "\r\n",
                          "entityMentions": [{"start": s, "label": l, "text": t} for s, l, t in mentions],
                          "relationMentions": rels}
                f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures"
    write_ace05(out)
    write_nyt(out)
