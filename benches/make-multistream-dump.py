"""Makes a large multistream Wikipedia dump from the bundled sample, for measuring spe prep
wiki and bzip2 decoding at scale: the sample's pages repeated TIMES times (page ids shifted
so that no two pages share one), compressed as independent bzip2 streams of about 1 MiB of
XML each, as Wikipedia's multistream dumps are.

    python3 benches/make-multistream-dump.py 50 x50-multistream.xml.bz2   # 105 MB of XML

The streams are compressed on every core (each is independent, and they are written in
order, so the file is the same whatever the core count).
"""

import bz2
import os
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

times, out_path = int(sys.argv[1]), sys.argv[2]
sample = Path(__file__).resolve().parent.parent / "data/sample/enwiki-sample.xml.bz2"
xml = bz2.open(sample).read().decode()
first, last = xml.find("  <page>"), xml.rfind("</mediawiki>")
body = xml[first:last]
page_id = re.compile(r"(</ns>\s*<id>)(\d+)(</id>)")
parts = [xml[:first]]
for copy in range(times):
    parts.append(page_id.sub(lambda m: f"{m.group(1)}{int(m.group(2)) + copy * 100_000_000}{m.group(3)}", body))
parts.append(xml[last:])
data = "".join(parts).encode()
streams, start = [], 0
while start < len(data):
    end = min(start + (1 << 20), len(data))
    k = data.find(b"</page>\n", end)
    end = len(data) if k < 0 else k + len(b"</page>\n")
    streams.append(data[start:end])
    start = end
with open(out_path, "wb") as out, ProcessPoolExecutor(os.cpu_count()) as pool:
    for compressed in pool.map(bz2.compress, streams, [9] * len(streams), chunksize=4):
        out.write(compressed)
print(f"{len(data) / 1e6:.1f} MB of XML in {out_path}")
