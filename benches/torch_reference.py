"""The PyTorch floor under spe train's step, on the same batches.

It runs the BERT work of a TBO+SPO+CSPO step and nothing else, as a user would write it in
PyTorch: transformers' BertModel (attn_implementation="sdpa") on both views forward and
backward, a momentum copy of it on both views forward (MoCo's key encoder, updated with
torch._foreach_lerp_), gradient clipping and torch.optim.AdamW (fused on CUDA), under bf16
autocast on CUDA. spe's whole step does all of this plus the span and span-pair encoders,
the heads and the queues, so its time should stay close to this one.

The batches are the micro-batches spe train read in the training bench:

    SPE_BENCH_DUMP=batches.safetensors cargo bench -p spe-trainer --bench train
    python benches/torch_reference.py batches.safetensors --batch 256            # eager
    python benches/torch_reference.py batches.safetensors --batch 256 --compile  # torch.compile
    python benches/torch_reference.py batches.safetensors --batch 256 --profile 15  # top kernels

It prints samples/s, real tokens/s, model TFLOP/s and MFU, counted as spe counts them
(trainer/src/train/flops.rs: BERT's matrix products on real tokens only, 8 forwards a row),
over every step after the first (the warm-up, and the compilation with --compile).
"""

import argparse
import copy
import time

import torch
from safetensors.torch import load_file
from transformers import BertConfig, BertModel


def model_flops(mask, config):
    """Model FLOPs of one micro-batch: both views forward and backward, and the key
    encoder's forward of both views, on each row's real tokens."""
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    t = mask.sum(dim=1).double()
    forward = 2.0 * layers * t * (4.0 * h * h + 2.0 * h * i + 2.0 * t * h)
    return float(8.0 * forward.sum())


def rate(flops_per_s):
    """FLOP/s with an SI prefix, as spe prints them."""
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M")):
        if flops_per_s >= scale:
            return f"{flops_per_s / scale:.3f} {prefix}FLOP/s"
    return f"{flops_per_s:.3f} FLOP/s"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("batches", help="the micro-batches written by the bench (SPE_BENCH_DUMP)")
    parser.add_argument("--batch", type=int, required=True, help="global batch in rows, as in the bench")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true", help="run the encoders under torch.compile")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="the device's dense bf16 peak")
    parser.add_argument("--tiny", action="store_true", help="spe's tiny model (pipelines/train-tiny.toml)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="after the timed steps, profile one more and print its N costliest kernels")
    args = parser.parse_args()

    tensors = load_file(args.batches)
    micro = [
        tuple(tensors[f"{k}.{name}"].to(args.device) for name in ("target", "context", "mask"))
        for k in range(len(tensors) // 3)
    ]
    rows = micro[0][0].shape[0]
    accumulation = max(1, args.batch // rows)
    steps = [micro[s : s + accumulation] for s in range(0, len(micro) - accumulation + 1, accumulation)]
    if len(steps) < 2:
        raise SystemExit(f"{len(micro)} micro-batches of {rows} rows make fewer than 2 steps of {args.batch} rows")

    if args.tiny:
        size = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128)
    else:
        size = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
    config = BertConfig(vocab_size=28996, attn_implementation="sdpa", **size)
    cuda = args.device.startswith("cuda")
    torch.manual_seed(5216)
    query = BertModel(config).to(args.device).train()
    key = copy.deepcopy(query).requires_grad_(False)
    optimizer = torch.optim.AdamW(query.parameters(), lr=1e-4, weight_decay=0.01, fused=cuda)
    # Sequence lengths differ from micro-batch to micro-batch, as in spe's loader.
    run_query = torch.compile(query, dynamic=True) if args.compile else query
    run_key = torch.compile(key, dynamic=True) if args.compile else key
    query_params, key_params = list(query.parameters()), list(key.parameters())

    def step(micro_batches):
        for target, context, mask in micro_batches:
            with torch.autocast(device_type="cuda" if cuda else "cpu", dtype=torch.bfloat16, enabled=cuda):
                a = run_query(input_ids=target, attention_mask=mask).last_hidden_state
                b = run_query(input_ids=context, attention_mask=mask).last_hidden_state
                # Stands in for the heads' losses: every hidden state gets a gradient.
                loss = a.float().square().mean() + b.float().square().mean()
                with torch.no_grad():
                    run_key(input_ids=target, attention_mask=mask)
                    run_key(input_ids=context, attention_mask=mask)
            (loss / len(micro_batches)).backward()
        torch.nn.utils.clip_grad_norm_(query_params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            torch._foreach_lerp_(key_params, query_params, 1.0 - 0.999)

    def synchronize():
        if cuda:
            torch.cuda.synchronize()

    step(steps[0])
    synchronize()
    started = time.perf_counter()
    for micro_batches in steps[1:]:
        step(micro_batches)
    synchronize()
    seconds = time.perf_counter() - started

    timed = [m for s in steps[1:] for m in s]
    samples = sum(m[2].shape[0] for m in timed)
    tokens = int(sum(m[2].sum() for m in timed))
    flops = sum(model_flops(m[2], config) for m in timed) / seconds
    mode = "torch.compile" if args.compile else "eager"
    print(f"PyTorch {torch.__version__} {mode}, {'tiny' if args.tiny else 'BERT-base'} on {args.device}: "
          f"global batch {args.batch}, micro-batch {rows}, {len(steps) - 1} timed step(s) after one warm-up step")
    print(f"  {samples / seconds:.1f} samples/s, {tokens / seconds:.0f} real tokens/s, {rate(flops)} of model FLOPs")
    if cuda:
        print(f"  MFU {100 * flops / 1e12 / args.peak_tflops:.1f}% of {args.peak_tflops:g} TFLOP/s, "
              f"peak memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")
    if args.profile:
        profile(lambda: (step(steps[-1]), synchronize()), cuda, args.profile)


def profile(one_step, cuda, rows):
    """Prints the `rows` kernels (on the CPU: operators) that took the most time in one step,
    by their own time, as torch.profiler measures it."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as profiler

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profiler(activities=activities) as prof:
        one_step()
    sort = "self_device_time_total" if cuda else "self_cpu_time_total"
    print(f"  the {rows} costliest {'kernels' if cuda else 'operators'} of one step, by {sort}:")
    print(prof.key_averages().table(sort_by=sort, row_limit=rows))


if __name__ == "__main__":
    main()
