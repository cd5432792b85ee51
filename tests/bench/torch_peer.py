#!/usr/bin/python3
"""torch_peer.py: the model `make bench` trains, written in PyTorch, as a yardstick.

`make bench` (tests/bench/bench.c) runs this with Debian's python3 when it can import torch
(apt-get install python3-torch libopenblas-dev), in turns with its own training runs, and prints
the ratio. It is never a dependency of the project: nothing else runs it.

The model is the project's config S or L (common/model.h): learned positions added to the token
embedding, pre-norm blocks (causal self-attention with biases, then a feed-forward network 4x as
wide with tanh-GELU), a final layer norm, the output layer tied to the token embedding. AdamW with
betas 0.9 and 0.95 and weight decay 0.1. The tokens are random: the speed does not depend on them.

Run by hand:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE MALLOC_MMAP_THRESHOLD_=1073741824 \\
        MALLOC_TRIM_THRESHOLD_=2147483647 /usr/bin/python3 tests/bench/torch_peer.py --B 16 --T 128
The environment is what lets PyTorch run at its best on these machines: OPENBLAS_CORETYPE, when set,
makes OpenBLAS (which does PyTorch's matrix products here) take an older core's kernels, and with
glibc's default thresholds every large activation is unmapped after each step and faulted in again.
Prints one line: RESULT tokens/s <median> <slowest> <fastest>, over the timed steps, and the
process's peak resident memory in KiB.
"""
import argparse
import math
import os
import resource
import statistics
import time

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--layers", type=int, default=4)
ap.add_argument("--heads", type=int, default=4)
ap.add_argument("--d_model", type=int, default=128)
ap.add_argument("--vocab", type=int, default=256)
ap.add_argument("--B", type=int, default=16)
ap.add_argument("--T", type=int, default=128)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--steps", type=int, default=10)
ap.add_argument("--warmup", type=int, default=2)
args = ap.parse_args()

# the thread counts must be in the environment before torch (and OpenBLAS with it) is loaded
os.environ["OMP_NUM_THREADS"] = str(args.threads)
os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

torch.set_num_threads(args.threads)
torch.manual_seed(0)


class Block(nn.Module):
    def __init__(self, C, H, T):
        super().__init__()
        self.H = H
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.qkv, self.proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.up, self.down = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)
        self.register_buffer("hidden", torch.ones(T, T, dtype=torch.bool).triu(1))  # keys after the query

    def forward(self, x):
        B, T, C = x.shape
        # (B, T, 3C) -> three (B, H, T, C/H)
        q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, self.H, C // self.H).permute(2, 0, 3, 1, 4)
        s = (q @ k.transpose(-2, -1)) / math.sqrt(C // self.H)
        a = s.masked_fill(self.hidden[:T, :T], float("-inf")).softmax(dim=-1)
        x = x + self.proj((a @ v).transpose(1, 2).reshape(B, T, C))
        return x + self.down(F.gelu(self.up(self.ln2(x)), approximate="tanh"))


class Gpt(nn.Module):
    def __init__(self, V, L, H, C, T):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(T, C)
        self.blocks = nn.ModuleList(Block(C, H, T) for _ in range(L))
        self.lnf = nn.LayerNorm(C)
        for p in self.parameters():  # N(0, 0.02) for matrices, as the project; norms and biases as made
            if p.dim() == 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids, targets):
        x = self.wte(ids) + self.wpe(torch.arange(ids.shape[1]))
        for b in self.blocks:
            x = b(x)
        logits = self.lnf(x) @ self.wte.weight.t()  # tied output layer
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.view(-1))


model = Gpt(args.vocab, args.layers, args.heads, args.d_model, args.T)
opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
ids = torch.randint(0, args.vocab, (args.B, args.T))
targets = torch.randint(0, args.vocab, (args.B, args.T))


def step():
    loss = model(ids, targets)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


for _ in range(args.warmup):
    step()
rates = []
for _ in range(args.steps):
    t0 = time.perf_counter()
    step()
    rates.append(args.B * args.T / (time.perf_counter() - t0))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
print(f"RESULT tokens/s {statistics.median(rates):.1f} {min(rates):.1f} {max(rates):.1f} {peak}")
