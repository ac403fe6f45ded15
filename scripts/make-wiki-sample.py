#!/usr/bin/env python3
"""Cut the bundled Wikipedia dump sample from a real dump fragment, in the two forms that
Wikipedia publishes: a plain bzip2 dump, and a multistream dump with its index.

Input: the English Wikipedia fragment shipped by the PyPI package gensim==4.4.0
(gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2).
Outputs, in OUT_DIR:
  enwiki-sample.xml.bz2                     the first N_PAGES pages as one bzip2 stream
  enwiki-sample-multistream.xml.bz2         the same XML: the header, then PAGES_PER_STREAM
                                            pages per bzip2 stream, then the footer
  enwiki-sample-multistream-index.txt.bz2   OFFSET:PAGE_ID:TITLE for every page, OFFSET
                                            being the byte where its stream starts
Only the standard library is used. Usage: make-wiki-sample.py DUMP.bz2 OUT_DIR [N_PAGES] [PAGES_PER_STREAM]
"""
import bz2
import html
import re
import sys


def main():
    dump, out = sys.argv[1], sys.argv[2]
    n_pages = int(sys.argv[3]) if len(sys.argv) > 3 else 60
    per_stream = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    xml = bz2.open(dump, "rt", encoding="utf-8").read()
    first = xml.index("  <page>")
    header = xml[:first]
    pages = re.findall(r"  <page>.*?</page>\n", xml[first:], flags=re.S)[:n_pages]
    footer = "</mediawiki>\n"

    with open(f"{out}/enwiki-sample.xml.bz2", "wb") as f:
        f.write(bz2.compress((header + "".join(pages) + footer).encode("utf-8"), 9))

    index_lines = []
    with open(f"{out}/enwiki-sample-multistream.xml.bz2", "wb") as f:
        f.write(bz2.compress(header.encode("utf-8"), 9))
        for start in range(0, len(pages), per_stream):
            offset = f.tell()
            group = pages[start:start + per_stream]
            for page in group:
                page_id = re.search(r"<id>(\d+)</id>", page).group(1)
                title = html.unescape(re.search(r"<title>(.*?)</title>", page).group(1))
                index_lines.append(f"{offset}:{page_id}:{title}\n")
            f.write(bz2.compress("".join(group).encode("utf-8"), 9))
        f.write(bz2.compress(footer.encode("utf-8"), 9))
    with open(f"{out}/enwiki-sample-multistream-index.txt.bz2", "wb") as f:
        f.write(bz2.compress("".join(index_lines).encode("utf-8"), 9))


if __name__ == "__main__":
    main()
