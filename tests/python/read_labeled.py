"""Opens one split of a labeled spe output with pyarrow, DuckDB and polars and prints what
each sees as JSON.

Usage: read_labeled.py OUTPUT_DIR SPLIT
The Rust test `interop` compares this with spe's manifest.
"""
import json
import os
import sys

import duckdb
import polars as pl
import pyarrow.parquet as pq


def main():
    out, split = sys.argv[1], sys.argv[2]
    pattern = os.path.join(out, split, "*.parquet")
    table = pq.read_table(os.path.join(out, split))
    first = table.slice(0, 1).to_pylist()[0]
    rows, entities, relations = duckdb.connect().execute(
        f"SELECT count(*), sum(len(entities)), sum(len(relations)) FROM read_parquet('{pattern}')"
    ).fetchone()
    frame = pl.read_parquet(pattern)
    labels = frame.select(pl.col("entities").explode().struct.field("label")).to_series().value_counts()
    result = {
        "pyarrow": {"rows": table.num_rows, "types": {f.name: str(f.type) for f in table.schema}, "first": first},
        "duckdb": {"rows": rows, "entities": int(entities), "relations": int(relations)},
        "polars": {"entity_labels": {r["label"]: r["count"] for r in labels.to_dicts()}},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
