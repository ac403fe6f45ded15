"""Opens an spe output with pyarrow, DuckDB and polars and prints what each sees as JSON.

Usage: read_shards.py OUTPUT_DIR
The Rust test `interop` compares this with the rows spe itself wrote.
"""
import glob
import json
import os
import sys

import duckdb
import polars as pl
import pyarrow.parquet as pq


def main():
    out = sys.argv[1]
    shards = sorted(glob.glob(os.path.join(out, "*.parquet")))
    table = pq.read_table(shards)
    meta = pq.read_metadata(shards[0])
    first = table.slice(0, 1).to_pylist()[0]
    con = duckdb.connect()
    pattern = os.path.join(out, "*.parquet")
    duck_rows, duck_tbo, duck_first = con.execute(
        f"SELECT count(*), sum(len(tbo)), min_by(len(input_ids), doc_id || lpad(sent_id::VARCHAR, 9, '0')) "
        f"FROM read_parquet('{pattern}')"
    ).fetchone()
    frame = pl.read_parquet(pattern)
    result = {
        "pyarrow": {
            "rows": table.num_rows,
            # The whole directory, as docs/shards.md reads it.
            "directory_rows": pq.read_table(out).num_rows,
            "columns": table.column_names,
            "types": {f.name: str(f.type) for f in table.schema},
            "compression": meta.row_group(0).column(0).compression,
            "statistics": meta.row_group(0).column(1).statistics is not None,
            "key_value": {k.decode(): v.decode() for k, v in (meta.metadata or {}).items() if k.startswith(b"spe.")},
            "first": first,
        },
        "duckdb": {"rows": duck_rows, "tbo_targets": int(duck_tbo), "first_len": duck_first},
        "polars": {
            "rows": frame.height,
            "target_true": int(frame["target_mask"].list.sum().sum()),
            "first_words": frame["words"][0].to_list(),
        },
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
