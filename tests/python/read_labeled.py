"""Opens a labeled spe output with pyarrow, DuckDB and polars, as docs/shards.md shows, and
prints what each sees as JSON.

Usage: read_labeled.py OUTPUT_DIR SPLIT
The Rust test `interop` compares this with spe's manifest. Each reader takes the whole
output at once; the hive-style split folders (split=train/…) give every row its split.
"""
import json
import os
import sys

import duckdb
import polars as pl
import pyarrow.compute as pc
import pyarrow.parquet as pq


def main():
    out, split = sys.argv[1], sys.argv[2]
    table = pq.read_table(out)  # the directory: _manifest.json is not read as data
    per_split = {s: n for s, n in zip(*table.group_by("split").aggregate([("doc_id", "count")]).to_pydict().values())}
    first = table.filter(pc.equal(table["split"], split)).slice(0, 1).to_pylist()[0]
    pattern = os.path.join(out, "**", "*.parquet")
    rows, entities, relations = duckdb.connect().execute(
        f"SELECT count(*), sum(len(entities)), sum(len(relations)) FROM read_parquet('{pattern}') WHERE split = ?",
        [split],
    ).fetchone()
    frame = pl.read_parquet(pattern, hive_partitioning=True).filter(pl.col("split") == split)
    labels = frame.select(pl.col("entities").explode().struct.field("label")).to_series().value_counts()
    result = {
        "pyarrow": {
            "rows": per_split,
            "types": {f.name: str(f.type) for f in table.schema},
            "first": {k: v for k, v in first.items() if k != "split"},
        },
        "duckdb": {"rows": rows, "entities": int(entities), "relations": int(relations)},
        "polars": {"rows": frame.height, "entity_labels": {r["label"]: r["count"] for r in labels.to_dicts()}},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
