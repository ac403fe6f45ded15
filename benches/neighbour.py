"""A neighbour for benches/neighbours.sh: a PyTorch training that runs until it is killed,
with PyTorch's own default threads (one per core), as a user's other training would.

A small transformer encoder (4 layers, 256 wide, batches of 16 × 64 random tokens) trained
with AdamW; it prints its steps per second every 20 steps to stderr.
"""
import sys
import time

import torch

torch.manual_seed(0)
layer = torch.nn.TransformerEncoderLayer(256, 4, 1024, batch_first=True)
model = torch.nn.Sequential(torch.nn.Embedding(30000, 256), torch.nn.TransformerEncoder(layer, 4),
                            torch.nn.Linear(256, 30000))
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
started, step = time.monotonic(), 0
while True:
    tokens = torch.randint(0, 30000, (16, 64))
    loss = torch.nn.functional.cross_entropy(model(tokens).flatten(0, 1), tokens.flatten())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    step += 1
    if step % 20 == 0:
        print(f"neighbour: {step / (time.monotonic() - started):.2f} steps/s", file=sys.stderr, flush=True)
