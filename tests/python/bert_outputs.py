"""Runs transformers' BertModel from a local directory on given token ids and writes its
outputs, for spe's parity and export tests.

Usage: bert_outputs.py MODEL_DIR INPUTS_JSON OUT_SAFETENSORS
INPUTS_JSON holds {"input_ids": [[...]], "attention_mask": [[...]]}; the output holds
last_hidden_state [B, T, D] and pooler_output [B, D] in float32.
"""

import json
import sys

import torch
from safetensors.torch import save_file
from transformers import BertModel


def main() -> None:
    model_dir, inputs_path, out_path = sys.argv[1:4]
    with open(inputs_path) as f:
        inputs = json.load(f)
    model = BertModel.from_pretrained(model_dir, local_files_only=True)
    model.eval()
    with torch.no_grad():
        output = model(
            input_ids=torch.tensor(inputs["input_ids"], dtype=torch.long),
            attention_mask=torch.tensor(inputs["attention_mask"], dtype=torch.long),
        )
    save_file(
        {
            "last_hidden_state": output.last_hidden_state.contiguous(),
            "pooler_output": output.pooler_output.contiguous(),
        },
        out_path,
    )


if __name__ == "__main__":
    main()
