"""Train a small multigrade ReLU network with the published MGDL recipe, deterministically.

The recipe (Xu & Zeng, multi-grade deep learning): grade 1 is a ReLU block on `x`; grade `k`
is a new ReLU block that reads the last hidden layer of the frozen grade `k-1` (its features,
not its output), followed by a scalar linear readout. Grade `k` is fitted to the residual
`e_{k-1} = f - (g_1 + ... + g_{k-1})` by Adam on the loss 1/2 MSE over sample points of
[0,1]^d, earlier grades frozen; PyTorch's default initialisation is the recipe's uniform
`±1/sqrt(fan_in)`, the learning rate decays exponentially from `--lr-max` to `--lr-min` over
the epochs, minibatches are reshuffled each epoch.

Everything runs in float64 on one thread from `--seed`, so two runs write identical files.
The weights are written exactly (`certify.from_torch`: each float64 becomes the rational it
denotes) as `mgdl-relu/1` JSON with `-o`, and with `--onnx` as ONNX
(`certify check --network model.onnx` reads it back exactly).

    python examples/mgdl_train.py --target examples/sine.py --grades 32x2,16x2,16x1,8x1 \\
        --epochs 200 --seed 0 -o sine_mgdl.json
"""

from __future__ import annotations

import argparse
import math
import os
import sys


def parse_grades(spec: str) -> list[list[int]]:
    """`"32x2,16x2,8x1"` -> `[[32, 32], [16, 16], [8]]`; `"32-16"` gives layers of widths 32, 16."""
    grades = []
    for part in spec.split(","):
        part = part.strip()
        if "x" in part:
            width, depth = part.split("x")
            layers = [int(width)] * int(depth)
        else:
            layers = [int(w) for w in part.split("-")]
        if not layers or min(layers) < 1:
            raise ValueError(f"bad grade spec {part!r}")
        grades.append(layers)
    return grades


def make_grade(torch, inputs: int, widths: list[int]):
    """(hidden Sequential of Linear/ReLU, readout Linear(width, 1)) in float64."""
    nn = torch.nn
    modules = []
    for w in widths:
        modules += [nn.Linear(inputs, w), nn.ReLU()]
        inputs = w
    return nn.Sequential(*modules).double(), nn.Linear(inputs, 1).double()


def sample_points(torch, dim: int, count: int, generator):
    """Training points of [0,1]^d: an even grid for d = 1 (as in the MGDL examples), uniform
    random points otherwise, plus the cube's corners."""
    if dim == 1:
        return torch.linspace(0, 1, count, dtype=torch.float64).reshape(-1, 1)
    corners = torch.tensor([[(i >> j) & 1 for j in range(dim)] for i in range(2 ** dim)],
                           dtype=torch.float64)
    return torch.cat([corners, torch.rand(count, dim, generator=generator, dtype=torch.float64)])


def per_grade(values: list[float], k: int) -> float:
    """The k-th entry of a per-grade list (1-based); the last one repeats."""
    return values[min(k, len(values)) - 1]


def train(target, grade_widths, epochs, seed, samples, batch, lr_max, lr_min, log=print):
    """Train grade by grade; return ([(hidden, readout), ...], per-grade statistics)."""
    import torch

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    generator = torch.Generator().manual_seed(seed)
    x = sample_points(torch, target.dim, samples, generator)
    fx = torch.tensor(target.floats(x.numpy()), dtype=torch.float64).reshape(-1, 1)
    features, residual = x, fx.clone()
    grades, stats = [], []
    for k, widths in enumerate(grade_widths, start=1):
        hi, lo = per_grade(lr_max, k), per_grade(lr_min, k)
        rounds = per_grade(epochs, k)
        gamma = math.log(hi / lo) / max(rounds, 1)
        hidden, readout = make_grade(torch, features.shape[1], widths)
        params = list(hidden.parameters()) + list(readout.parameters())
        opt = torch.optim.Adam(params, lr=hi, betas=(0.9, 0.999), eps=1e-8)
        n = len(features)
        for epoch in range(rounds):
            for group in opt.param_groups:
                group["lr"] = hi * math.exp(-gamma * epoch)
            order = torch.randperm(n, generator=generator)
            for start in range(0, n, batch):
                idx = order[start:start + batch]
                pred = readout(hidden(features[idx]))
                loss = 0.5 * torch.mean((pred - residual[idx]) ** 2)
                opt.zero_grad()
                loss.backward()
                opt.step()
        for p in params:
            p.requires_grad_(False)
        with torch.no_grad():
            new_features = hidden(features)
            residual = residual - readout(new_features)
        features = new_features
        rms = float(torch.sqrt(torch.mean(residual ** 2)))
        top = float(torch.max(torch.abs(residual)))
        stats.append({"grade": k, "rms": rms, "max": top})
        log(f"grade {k}: widths {widths}  residual rms {rms:.3e}  max {top:.3e}")
        grades.append((hidden, readout))
    return grades, stats


def export_onnx(grades, dim: int, path: str) -> None:
    """Save the trained grades as ONNX: input `x` of shape (1, d) in float64, one output
    `g_k` of shape (1, 1) per grade (torch's TorchScript-based exporter: Gemm and Relu)."""
    import warnings

    import torch

    class Multigrade(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.hidden = torch.nn.ModuleList([h for h, _ in grades])
            self.readout = torch.nn.ModuleList([r for _, r in grades])

        def forward(self, x):
            outputs = []
            for hidden, readout in zip(self.hidden, self.readout):
                x = hidden(x)
                outputs.append(readout(x))
            return tuple(outputs)

    names = [f"g{k}" for k in range(1, len(grades) + 1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Multigrade(), (torch.zeros(1, dim, dtype=torch.float64),), path,
                          dynamo=False, input_names=["x"], output_names=names)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="target file defining f (SymPy)")
    parser.add_argument("--grades", required=True,
                        help="widths per grade, e.g. 32x2,16x2,16x1,8x1 (width x layers)")
    parser.add_argument("--epochs", default="100",
                        help="epochs per grade, comma-separated (the last repeats)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--samples", type=int, default=None,
                        help="training points (default 1024 for d=1, 4096 otherwise)")
    parser.add_argument("--batch", type=int, default=128, help="minibatch size")
    parser.add_argument("--lr-max", default="1e-2",
                        help="first learning rate per grade, comma-separated (the last repeats)")
    parser.add_argument("--lr-min", default="1e-4",
                        help="last learning rate per grade, comma-separated (the last repeats)")
    parser.add_argument("-o", "--output", required=True, help="mgdl-relu/1 JSON to write")
    parser.add_argument("--onnx", default=None, help="also write the network as ONNX here")
    args = parser.parse_args(argv)

    from certify import from_torch, load_target, write_network

    target = load_target(args.target)
    widths = parse_grades(args.grades)
    samples = args.samples or (1024 if target.dim == 1 else 4096)
    log = (lambda line: print(line, file=sys.stderr))
    lr_max = [float(v) for v in args.lr_max.split(",")]
    lr_min = [float(v) for v in args.lr_min.split(",")]
    epochs = [int(v) for v in args.epochs.split(",")]
    grades, stats = train(target, widths, epochs, args.seed, samples, args.batch,
                          lr_max, lr_min, log)
    meta = {"trained": "examples/mgdl_train.py", "target": os.path.basename(args.target),
            "grades": args.grades, "epochs": args.epochs, "seed": args.seed,
            "samples": samples, "batch": args.batch, "lr_max": args.lr_max,
            "lr_min": args.lr_min, "train_residual": stats}
    network = from_torch(grades, target.dim, meta)
    write_network(network, args.output)
    if args.onnx:
        export_onnx(grades, target.dim, args.onnx)
    log(f"wrote {args.output}" + (f" and {args.onnx}" if args.onnx else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
