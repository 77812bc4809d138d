"""PyTorch peer of denet's CharLM (bench/charlm_learning.ts and the CharLM row of
bench/knet_table.ts): the same model, initial weights, optimizer and BPTT windows.

Run by bench/peers/torch_charlm.ts as `python3 torch_charlm.py PLAN.json`. The plan names
raw little-endian files: the corpus as int32 token ids, and denet's initial weights as f32
in denet's layouts, converted here:

- Embedding [V, E]: the same in both.
- LSTM: denet's W [4H, E], R [4H, H], bW [4H], bR [4H] stack the gates in Knet's (cuDNN's)
  order i, f, c, o, which is PyTorch's i, f, g, o: they are weight_ih_l0, weight_hh_l0,
  bias_ih_l0 and bias_hh_l0 as they are.
- Dense: denet's w [H, V] (y = x.w + b) is F.linear's weight transposed.

Training: the text before `trainLen` cut into `batch` streams read `seq` steps at a time
(src/data/bptt.ts windows: x[t, b] = data[b*N + w*seq + t], N = (len-1)//batch), the
LSTM state carried from window to window (detached) and reset each epoch, mean
cross-entropy, Adam (Knet's: same betas, eps and bias correction as torch.optim.Adam), with
`gclip` > 0 clipping each parameter's gradient norm on its own as Knet's gclip does. After
each epoch (when `heldOutLen` > 0) the held-out text is scored the same way without
gradients. Prints one JSON line per epoch on stderr and a summary JSON line on stdout.
"""

import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def load(spec, dtype):
    return torch.from_numpy(np.fromfile(spec["file"], dtype=dtype).reshape(spec["shape"]))


def windows(data, batch, seq):
    """The BPTT windows of `data` (a 1-D int64 tensor) as (x, y) pairs of [seq, batch]."""
    n = (data.numel() - 1) // batch
    count = n // seq
    streams = torch.stack([data[b * n : b * n + n + 1] for b in range(batch)], dim=1)
    return [
        (streams[w * seq : w * seq + seq], streams[w * seq + 1 : w * seq + seq + 1])
        for w in range(count)
    ]


class CharLM(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        V, E = w["embed"].shape
        H = w["R"].shape[1]
        self.embed = torch.nn.Embedding(V, E)
        self.lstm = torch.nn.LSTM(E, H)
        self.out = torch.nn.Linear(H, V)
        with torch.no_grad():
            self.embed.weight.copy_(w["embed"])
            self.lstm.weight_ih_l0.copy_(w["W"])
            self.lstm.weight_hh_l0.copy_(w["R"])
            self.lstm.bias_ih_l0.copy_(w["bW"])
            self.lstm.bias_hh_l0.copy_(w["bR"])
            self.out.weight.copy_(w["outW"].t())
            self.out.bias.copy_(w["outB"])

    def forward(self, x, state):
        y, state = self.lstm(self.embed(x), state)
        T, B, H = y.shape
        return self.out(y.reshape(T * B, H)), state


def epoch_loss(model, wins, opt=None, gclip=0.0):
    """Mean loss over `wins`, training when `opt` is given; the sum stays a tensor."""
    total = torch.zeros(())
    state = None
    for x, y in wins:
        scores, state = model(x, state)
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(scores, y.reshape(-1))
        if opt is not None:
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if gclip > 0:
                for p in model.parameters():
                    torch.nn.utils.clip_grad_norm_([p], gclip)
            opt.step()
        total += loss.detach()
    return total.item() / len(wins)


def main(plan_path):
    plan = json.load(open(plan_path))
    torch.set_num_threads(os.cpu_count())
    torch.manual_seed(0)
    data = load(plan["data"], np.int32).long()
    train = data[: plan["trainLen"]]
    held = data[plan["trainLen"] : plan["trainLen"] + plan["heldOutLen"]]
    w = {k: load(v, np.float32) for k, v in plan["weights"].items()}
    trn = windows(train, plan["batch"], plan["seq"])[: plan["stepsPerEpoch"]]
    tst = windows(held, plan["batch"], plan["seq"]) if plan["heldOutLen"] > 0 else []
    if plan["warmupSteps"] > 0:  # untimed, on a throwaway copy
        m = CharLM(w)
        epoch_loss(m, trn[: plan["warmupSteps"]], torch.optim.Adam(m.parameters(), lr=plan["lr"]))
    model = CharLM(w)
    opt = torch.optim.Adam(model.parameters(), lr=plan["lr"], betas=(0.9, 0.999), eps=1e-8)
    epochs = []
    for e in range(1, plan["epochs"] + 1):
        t0 = time.perf_counter()
        model.train()
        train_loss = epoch_loss(model, trn, opt, plan["gclip"])
        seconds = time.perf_counter() - t0
        held_loss = float("nan")
        if tst:
            with torch.no_grad():
                held_loss = epoch_loss(model, tst)
        r = {
            "epoch": e,
            "steps": len(trn),
            "trainLoss": train_loss,
            "heldOutLoss": held_loss if held_loss == held_loss else None,
            "seconds": seconds,
        }
        epochs.append(r)
        print(json.dumps(r), file=sys.stderr, flush=True)
    print(json.dumps({"threads": torch.get_num_threads(), "epochs": epochs}))


if __name__ == "__main__":
    main(sys.argv[1])
