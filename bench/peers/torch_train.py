"""PyTorch peer of bench/knet_table.ts: trains one row of Knet's benchmark table.

Run by bench/peers/torch_train.ts as `python3 torch_train.py PLAN.json` (or with `--info`
to print torch's version, threads and BLAS as one JSON line). The plan names raw
little-endian f32 files holding denet's initial weights (denet's layouts) and the data; this
script converts the weights to PyTorch's layouts:

- Linear: denet's weight is [in, out] with y = x.w + b; F.linear wants [out, in]: transposed.
- conv2d: PyTorch cross-correlates, denet's conv4 (Knet's mode 0) flips the filter, so the
  [O, I, kH, kW] filter is flipped along kH and kW. Images are NCHW in both, and both
  flatten [N, C, H, W] as (c, h, w), so LeNet's first dense weight needs no permutation.

Then: plain SGD with the row's lr on the same minibatches in file order, the row's loss
(MSE as the mean over all elements, denet's `mse`; mean NLL of log-softmax for MNIST),
a few untimed warm-up steps on a throwaway copy, the loss read back with `.item()` once
per read epoch (LinReg: once at the end), test accuracy after the clock stops. Prints one
JSON line on stdout.
"""

import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F


def blas_info():
    """The BLAS torch was built with, from torch.__config__.show()."""
    cfg = torch.__config__.show()
    for line in cfg.splitlines():
        if "BLAS_INFO" in line:
            for part in line.split(","):
                if "BLAS_INFO" in part:
                    return part.split("=", 1)[1].strip()
    return "unknown"


def blas_library():
    """The BLAS shared library this process loaded (Debian switches it via alternatives)."""
    try:
        with open("/proc/self/maps") as f:
            libs = {l.split()[-1] for l in f if "blas" in l.lower() and ".so" in l}
        return ", ".join(sorted(os.path.realpath(p) for p in libs)) or "none found"
    except OSError:
        return "unknown"


def info():
    torch.set_num_threads(os.cpu_count())
    torch.mm(torch.ones(8, 8), torch.ones(8, 8))  # loads the BLAS library
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": blas_info(),
        "blasLibrary": blas_library(),
    }


def load(spec):
    """A tensor from {"file", "shape"}: raw f32."""
    a = np.fromfile(spec["file"], dtype=np.float32)
    return torch.from_numpy(a).reshape(spec["shape"])


def torch_weights(row, ws):
    """denet's layouts -> PyTorch's (see the module doc): every row's parameters alternate
    weight, bias; biases ([1, out] or [1, C, 1, 1]) become flat vectors."""
    out = []
    for i, w in enumerate(ws):
        if i % 2 == 1:
            out.append(w.reshape(-1).clone())
        elif w.dim() == 4:
            out.append(torch.flip(w, dims=[2, 3]).contiguous())
        elif w.dim() == 2:
            out.append(w.t().contiguous())
        else:
            raise ValueError(f"torch_train: {row} weight {i} has shape {list(w.shape)}")
    return out


def predictor(row, v):
    if row in ("linreg", "softmax"):
        return lambda x: F.linear(x, v[0], v[1])
    if row == "mlp":
        return lambda x: F.linear(F.relu(F.linear(x, v[0], v[1])), v[2], v[3])
    if row == "lenet":
        def f(x):
            x = F.max_pool2d(F.relu(F.conv2d(x, v[0], v[1])), 2)
            x = F.max_pool2d(F.relu(F.conv2d(x, v[2], v[3])), 2)
            x = F.relu(F.linear(x.reshape(x.shape[0], -1), v[4], v[5]))
            return F.linear(x, v[6], v[7])
        return f
    raise ValueError(f"torch_train: unknown row {row!r}")


def main(plan_path):
    with open(plan_path) as f:
        p = json.load(f)
    torch.set_num_threads(os.cpu_count())
    row, b, lr = p["row"], p["batch"], p["lr"]
    mse = p["loss"] == "mse"
    x, y = load(p["x"]), load(p["y"])
    per = [b] + list(p["xShape"])
    if not mse:
        y = y.long()
    w0 = torch_weights(row, [load(w) for w in p["weights"]])
    steps = p["stepsPerEpoch"]
    # Batches as views in file order (LinReg: the one whole batch).
    batches = [(x[k * b:(k + 1) * b].reshape(per), y[k * b:(k + 1) * b]) for k in range(steps)]
    lossf = (lambda s, t: F.mse_loss(s, t)) if mse else \
        (lambda s, t: F.nll_loss(F.log_softmax(s, dim=1), t))

    def make():
        return [w.clone().requires_grad_(True) for w in w0]

    def step(v, predict, k):
        bx, by = batches[k]
        loss = lossf(predict(bx), by)
        gs = torch.autograd.grad(loss, v)
        with torch.no_grad():
            for w, g in zip(v, gs):
                w.sub_(g, alpha=lr)
        return loss.detach()

    # Warm-up on a throwaway copy.
    v = make()
    predict = predictor(row, v)
    for k in range(p["warmupSteps"]):
        last = step(v, predict, k % steps)
    if p["warmupSteps"] > 0:
        last.item()

    v = make()
    predict = predictor(row, v)
    read = set(p["readEpochs"])
    epochs = p["epochs"]
    final, readbacks = float("nan"), 0
    t0 = time.perf_counter()
    for e in range(1, epochs + 1):
        for k in range(steps):
            loss = step(v, predict, k)
            if k == steps - 1 and (e in read or e == epochs):
                final = loss.item()
                readbacks += 1
    seconds = time.perf_counter() - t0

    acc = None
    if p.get("xtst"):
        xt, yt = load(p["xtst"]), load(p["ytst"]).long()
        nb = p["ntst"] // b
        hits = 0
        with torch.no_grad():
            for k in range(nb):
                s = predict(xt[k * b:(k + 1) * b].reshape(per))
                hits += int((s.argmax(1) == yt[k * b:(k + 1) * b]).sum().item())
        acc = hits / (nb * b) if nb > 0 else float("nan")
    print(json.dumps({
        "seconds": seconds,
        "steps": epochs * steps,
        "finalLoss": final,
        "testAccuracy": acc,
        "readbacks": readbacks,
        "threads": torch.get_num_threads(),
        "blas": blas_info(),
    }))


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "--info":
        print(json.dumps(info()))
    elif len(sys.argv) == 2:
        main(sys.argv[1])
    else:
        sys.exit("usage: torch_train.py PLAN.json | --info")
