#!/usr/bin/env python3
"""Cut the bundled plain-text sample (data/sample/enwiki-sentences.txt) from a real
Wikipedia dump fragment.

Input: the English Wikipedia fragment shipped by the PyPI package gensim==4.4.0
(gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2).
Output: one sentence per line, a blank line between articles (the layout `spe prep text`
reads). Markup is removed with mwparserfromhell; sentences are split by a plain rule.
This script only makes the sample; spe itself does not use Python.

Usage: make-text-sample.py DUMP.bz2 OUT.txt [N_ARTICLES]
"""
import bz2
import re
import sys
import xml.etree.ElementTree as ET

import mwparserfromhell

NS = "{http://www.mediawiki.org/xml/export-0.10/}"
DROP_SECTIONS = {"references", "external links", "see also", "further reading", "notes", "bibliography"}
SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'(])")
ABBREV_END = re.compile(r"\b(?:[A-Z]|Mr|Mrs|Dr|St|Jr|Sr|e\.g|i\.e|etc|vs|c|ca|U\.S|No)\.$")


def prose(wikitext):
    code = mwparserfromhell.parse(wikitext)
    paragraphs = []
    for section in code.get_sections(levels=[2], include_lead=True, include_headings=True):
        headings = section.filter_headings()
        if headings and headings[0].title.strip_code().strip().lower() in DROP_SECTIONS:
            continue
        for node in section.filter_templates(recursive=False) + section.filter_tags(recursive=False):
            try:
                section.remove(node)
            except ValueError:
                pass
        text = section.strip_code(normalize=True, collapse=True)
        for para in text.split("\n"):
            para = " ".join(para.split())
            if len(para) > 80 and not para.startswith(("Category:", "File:", "Image:", "thumb")):
                paragraphs.append(para)
    return paragraphs


def sentences(paragraph):
    out = []
    for piece in SPLIT.split(paragraph):
        if out and ABBREV_END.search(out[-1]):
            out[-1] += " " + piece
        else:
            out.append(piece)
    return [s for s in out if len(s.split()) >= 4 and "{" not in s and "|" not in s]


def main():
    dump, out_path = sys.argv[1], sys.argv[2]
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    kept = 0
    with bz2.open(dump) as fin, open(out_path, "w", encoding="utf-8") as fout:
        for _, elem in ET.iterparse(fin):
            if elem.tag != NS + "page":
                continue
            ns = elem.findtext(NS + "ns")
            text = elem.findtext(f"{NS}revision/{NS}text") or ""
            if ns == "0" and not text.lstrip().upper().startswith("#REDIRECT"):
                lines = [s for p in prose(text) for s in sentences(p)]
                if len(lines) >= 20:
                    if kept:
                        fout.write("\n")
                    fout.write("\n".join(lines[:60]) + "\n")
                    kept += 1
            elem.clear()
            if kept >= limit:
                break


if __name__ == "__main__":
    main()
