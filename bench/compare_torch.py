#!/usr/bin/python3
"""bench/compare_torch.py - examples/mlp.net and examples/lenet.net trained
by PyTorch and by the netc-built binaries on the same two cores, in the same
run, and both models' batch-1 predict latency.

MLP: the same 784-512-256-10 MLP (ReLU, dropout 0.2), AdamW (lr 1e-3,
weight decay 1e-4), batch 128, on Fashion-MNIST held in memory.

LeNet: the PyTorch model is derived from examples/lenet.net itself: the
filters, kernel and padding of each labelled conv2d ("same" becomes the
symmetric padding nn.Conv2d takes), each conv followed by ReLU and 2x2
max-pooling, the labelled dense layers with ReLU between them; Adam with
the file's hyper-parameters, its batch size and its cosine schedule (set
per step; the learning rate does not change the cost of a step). Before
anything is timed, the model's layer ops, output shapes and parameter
counts are compared with `netc check examples/lenet.net`, so an edit to
the file that this script does not mirror stops the run instead of
comparing different networks.

Training: PyTorch gets its best two-core configuration of three, each in a
fresh process (thread settings must precede `import torch`):
  default     torch.set_num_threads(2)
  passive     the same with OMP_WAIT_POLICY=PASSIVE
  1+2 blas    torch.set_num_threads(1), OPENBLAS_NUM_THREADS=2
netc: the best of three `./NAME train --steps N --threads 2` runs, as
bench/bench_train.c reads them (batch gathering, forward, backward and the
optimizer; PyTorch's loop times the same work on data already in memory).

Batch-1 latency: the MLP and LeNet in eval mode under torch.inference_mode(),
eager and as frozen TorchScript, with 1 and 2 threads, OpenBLAS's pool
as it comes and limited to as many threads, each in a fresh process; 300 calls of warm-up, then the median and 10th percentile of 3000
single calls, as bench/latency_main.c times netc's emitted C (built and run
by `bench_train --latency NAME`). Targets (issue 11): 20 us for the MLP,
50 us for LeNet.

GAN: a twin of examples/gan.net read from the file (models, noise, batch,
each step's Adam; D's step on real and detached fakes, then G's on fresh
noise, dropout in D as written), against the built binary's
`./gan train --steps 600 --threads 2` run straight after each PyTorch
configuration (paired, so the machine's load drifts less into a ratio);
PyTorch also runs with denormals flushed (torch.set_flush_denormal).
Then one thread each, per CPU second (gan_cpu_table): PyTorch's CPU time
per iteration against netc's (`./gan train --steps 900 --threads 1` minus
`--steps 100`), in turn, three times; the shared machine's load moves
these much less than the two-thread wall-clock rates.

PyTorch's BLAS: Debian's torch calls whatever libblas.so.3 points to. With
only the reference libblas3 installed its products are 10-100x slower
(the GAN twin ran at 2.7 iterations/s on it), so the script stops then;
`make bench-compare` installs libopenblas-dev, which makes OpenBLAS
libblas.so.3. Note the "default" configuration on two vCPUs: OpenMP's
spinning threads and OpenBLAS's own threads compete for the two cores.

Usage: compare_torch.py BUILD [--only-gan] [MLP_STEPS [LENET_STEPS]]
       compare_torch.py BUILD --latency   (the batch-1 latency tables only)
BUILD holds netc, bench/bench_train and the built examples bench/mlp and
bench/lenet; run from the project root. PyTorch trains MLP_STEPS (600)
and LENET_STEPS (160, or as many as fit in about 15 s) timed steps; netc
twice MLP_STEPS and, as bench_train.c, 240 LeNet steps.
"""
import gzip
import math
import os
import re
import subprocess
import sys
import time

DATA = "/usr/share/datasets/fashion-mnist"
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
LENET = os.path.join(ROOT, "examples", "lenet.net")
GAN = os.path.join(ROOT, "examples", "gan.net")
GAN_RATE_TARGET = 2.5   # netc iterations/s over PyTorch's best
CONFIGS = [("default", 2, {}), ("passive", 2, {"OMP_WAIT_POLICY": "PASSIVE"}),
           ("1+2 blas", 1, {"OPENBLAS_NUM_THREADS": "2"})]
# The GAN's twin also runs with denormals flushed (torch.set_flush_denormal,
# FTZ/DAZ); netc's runtime never flushes them. The ratio is against the best
# row, flushed or not.
GAN_CONFIGS = CONFIGS + [("default, flush denormals", 2, {"COMPARE_FLUSH_DENORMAL": "1"})]
REFERENCE_BLAS = "/usr/lib/x86_64-linux-gnu/blas/"  # Debian's netlib libblas3
NETC_LENET_STEPS = 240   # as bench/bench_train.c
LENET_RATE_TARGET = 2.0   # netc samples/s over PyTorch's best
LATENCY_TARGETS = {"mlp": 20.0, "lenet": 50.0}   # us, batch 1 (issue 11)
LATENCY_RATIO = 2.0   # netc's best batch-1 latency at least this much under PyTorch's best


def fail(message):
    sys.exit("compare_torch.py: " + message)


def load_train(torch, shape):
    import numpy as np
    with gzip.open(os.path.join(DATA, "train-images-idx3-ubyte.gz")) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16).reshape((-1,) + shape).astype(np.float32) / 255.0
    with gzip.open(os.path.join(DATA, "train-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def mlp_train(threads, steps):
    import torch
    torch.set_num_threads(threads)
    x, y = load_train(torch, (784,))
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


def call_args(text):
    """'32, 5, padding = "same"' -> (['32', '5'], {'padding': 'same'})"""
    positional, keyword = [], {}
    for part in (p.strip() for p in text.split(",")):
        if "=" in part:
            key, value = (s.strip() for s in part.split("=", 1))
            keyword[key] = value.strip('"')
        elif part:
            positional.append(part)
    return positional, keyword


def lenet_spec(path):
    """What the PyTorch LeNet mirrors, read from the .net file. Anything
    this does not know how to mirror is an error, not a silent default."""
    text = re.sub(r"#[^\n]*", "", open(path).read())
    spec = {"convs": [], "denses": []}
    for label, op, args in re.findall(r"(\w+):\s*(conv2d|dense)\(([^)]*)\)", text):
        positional, keyword = call_args(args)
        if op == "conv2d":
            filters, kernel = int(positional[0]), int(positional[1])
            written = keyword.pop("padding", "0 (the default)")
            if written == "same":
                if kernel % 2 == 0:
                    fail('%s: %s: padding "same" with an even kernel pads one side more; not mirrored' % (path, label))
                padding = (kernel - 1) // 2
                written = '"same"'
            elif written == "valid":
                padding, written = 0, '"valid"'
            else:
                padding = int(written.split()[0])
            spec["convs"].append((label, filters, kernel, padding, written))
        else:
            spec["denses"].append((label, int(positional[0])))
        if keyword or len(positional) != (2 if op == "conv2d" else 1):
            fail("%s: %s: arguments '%s' are not mirrored by the PyTorch model" % (path, label, args))
    match = re.search(r"optimizer\s+(\w+)\(([^)]*)\)", text)
    if not match or match.group(1) != "adam":
        fail("%s: the PyTorch model mirrors an adam optimizer; the file has %s"
             % (path, match.group(0) if match else "none"))
    _, hyper = call_args(match.group(2))
    spec["adam"] = {"lr": float(hyper.pop("lr", 1e-3)),
                    "betas": (float(hyper.pop("beta1", 0.9)), float(hyper.pop("beta2", 0.999))),
                    "eps": float(hyper.pop("eps", 1e-8)),
                    "weight_decay": float(hyper.pop("weight_decay", 0))}
    if hyper:
        fail("%s: adam arguments %s are not mirrored" % (path, sorted(hyper)))
    match = re.search(r"schedule\s+(\w+)\(([^)]*)\)", text)
    spec["warmup"], spec["min_lr"], spec["cosine"] = 0, 0.0, False
    if match:
        if match.group(1) not in ("cosine", "constant"):
            fail("%s: schedule %s is not mirrored" % (path, match.group(1)))
        _, sched = call_args(match.group(2))
        spec["cosine"] = match.group(1) == "cosine"
        spec["warmup"] = int(sched.pop("warmup", 0))
        spec["min_lr"] = float(sched.pop("min_lr", 0))
        if sched:
            fail("%s: schedule arguments %s are not mirrored" % (path, sorted(sched)))
    match = re.search(r"^\s*batch\s+(\d+)", text, re.M)
    spec["batch"] = int(match.group(1)) if match else fail("%s: no batch line" % path)
    return spec


def scheduled_lr(spec, t, total):
    """The learning rate at 1-based step t of total (runtime's rt_schedule_lr)."""
    lr, warmup = spec["adam"]["lr"], spec["warmup"]
    if t <= warmup:
        return lr * t / warmup
    s, span = t - warmup - 1, total - warmup
    if not spec["cosine"] or span <= 1:
        return lr
    return spec["min_lr"] + (lr - spec["min_lr"]) * (1 + math.cos(math.pi * s / (span - 1))) / 2


def lenet_model(spec):
    import torch
    nn = torch.nn
    layers, channels, side = [], 1, 28
    for _, filters, kernel, padding, _ in spec["convs"]:
        layers += [nn.Conv2d(channels, filters, kernel, padding=padding), nn.ReLU(), nn.MaxPool2d(2)]
        channels, side = filters, (side + 2 * padding - kernel + 1) // 2
    layers.append(nn.Flatten())
    features = channels * side * side
    for i, (_, units) in enumerate(spec["denses"]):
        layers.append(nn.Linear(features, units))
        if i + 1 < len(spec["denses"]):
            layers.append(nn.ReLU())
        features = units
    return nn.Sequential(*layers)


def check_lenet(netc, spec):
    """The PyTorch model's (op, output shape, parameters) per layer must be
    netc check's rows. Returns the parameter count."""
    import torch
    out = subprocess.run([netc, "check", LENET], capture_output=True, text=True, check=True).stdout
    theirs = [(op, shape, int(params.replace(",", "")))
              for op, shape, params in re.findall(r"^\s+\S+\s+(\w+)\s+f32\[([^\]]*)\]\s+([\d,]+)\s+[\d,]+$", out, re.M)]
    model = lenet_model(spec)
    names = {"Conv2d": "conv2d", "ReLU": "relu", "MaxPool2d": "maxpool", "Flatten": "flatten", "Linear": "dense"}
    ours = [("input", "1, 28, 28", 0)]
    h = torch.zeros(1, 1, 28, 28)
    with torch.no_grad():
        for layer in model:
            h = layer(h)
            ours.append((names[type(layer).__name__], ", ".join(map(str, h.shape[1:])),
                         sum(p.numel() for p in layer.parameters())))
    if ours != theirs:
        fail("the PyTorch LeNet does not match `netc check %s`:\n  torch: %s\n  netc:  %s" % (LENET, ours, theirs))
    return sum(p.numel() for p in model.parameters())


def lenet_train(threads, steps):
    import torch
    torch.set_num_threads(threads)
    spec = lenet_spec(LENET)
    x, y = load_train(torch, (1, 28, 28))
    torch.manual_seed(1)
    model = lenet_model(spec)
    opt = torch.optim.Adam(model.parameters(), **spec["adam"])
    loss_fn = torch.nn.CrossEntropyLoss()
    order = torch.randperm(x.shape[0])
    batch, warm = spec["batch"], 20

    def step(i):
        for group in opt.param_groups:
            group["lr"] = scheduled_lr(spec, i + 1, warm + steps)
        idx = order[(i * batch) % (x.shape[0] - batch):][:batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()

    for i in range(warm):
        step(i)
    # At most about 15 s: a loaded machine can make a configuration several
    # times slower, and the rate needs no more steps than that.
    start = time.perf_counter()
    done = 0
    while done < steps and (done < 20 or time.perf_counter() - start < 15):
        step(warm + done)
        done += 1
    return done * batch / (time.perf_counter() - start)


def latency(name, threads):
    """Median and 10th percentile (us) of batch-1 calls of model NAME (mlp or
    lenet): eager, then frozen TorchScript."""
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    if name == "mlp":
        model = torch.nn.Sequential(
            torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Dropout(0.2),
            torch.nn.Linear(512, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)).eval()
        x = torch.rand(1, 784)
    else:
        model = lenet_model(lenet_spec(LENET)).eval()
        x = torch.rand(1, 1, 28, 28)

    def measure(f):
        times = []
        with torch.inference_mode():
            for _ in range(300):
                f(x)
            for _ in range(3000):
                t0 = time.perf_counter_ns()
                f(x)
                times.append(time.perf_counter_ns() - t0)
        times.sort()
        return times[len(times) // 2] / 1e3, times[len(times) // 10] / 1e3

    eager = measure(model)
    with torch.no_grad():
        frozen = torch.jit.freeze(torch.jit.trace(model, x))
    return eager + measure(frozen)


def model_layers(text, name):
    """The chain of model NAME in a .net file as (op, argument) pairs:
    dense(N), leaky_relu(a), relu, tanh, sigmoid, dropout(p); anything else
    is an error."""
    match = re.search(r"model\s+%s\s*\(\s*\w+\s*:\s*f32\[(\d+)\]\s*\)\s*->\s*f32\[(\d+)\]\s*\{([^}]*)\}" % name, text)
    if not match:
        fail("%s: model %s(x: f32[N]) -> f32[M] { ... } not found" % (GAN, name))
    stages = [st.strip() for st in match.group(3).split("->")][1:]
    layers = []
    for st in stages:
        m = re.fullmatch(r"(\w+)(?:\(([^)]*)\))?", st)
        if not m or m.group(1) not in ("dense", "leaky_relu", "relu", "tanh", "sigmoid", "dropout"):
            fail("%s: model %s: stage '%s' is not mirrored by the PyTorch twin" % (GAN, name, st))
        layers.append((m.group(1), m.group(2)))
    return int(match.group(1)), layers


def gan_spec(path):
    """gan.net's two models, noise, batch and the two steps' adam settings
    and losses, read from the file; what the twin does not mirror is an error."""
    text = re.sub(r"#[^\n]*", "", open(path).read())
    spec = {"G": model_layers(text, "G"), "D": model_layers(text, "D")}
    match = re.search(r"^\s*noise\s+(normal|uniform)\((\d+)\)", text, re.M)
    spec["noise"] = (match.group(1), int(match.group(2))) if match else fail("%s: no noise line" % path)
    match = re.search(r"^\s*batch\s+(\d+)", text, re.M)
    spec["batch"] = int(match.group(1)) if match else fail("%s: no batch line" % path)
    for step, want in (("D", "bce(D(real), 1) + bce(D(G(noise)), 0)"), ("G", "bce(D(G(noise)), 1)")):
        m = re.search(r"step\s+%s\s*\{\s*loss\s+(.*?)\s+optimizer\s+adam\(([^)]*)\)\s*\}" % step, text)
        if not m or re.sub(r"\s+", " ", m.group(1)) != want:
            fail("%s: step %s must be { loss %s optimizer adam(...) } to be mirrored" % (path, step, want))
        _, hyper = call_args(m.group(2))
        spec["adam_" + step] = {"lr": float(hyper.pop("lr", 1e-3)),
                                "betas": (float(hyper.pop("beta1", 0.9)), float(hyper.pop("beta2", 0.999))),
                                "eps": float(hyper.pop("eps", 1e-8))}
        if hyper:
            fail("%s: step %s: adam arguments %s are not mirrored" % (path, step, sorted(hyper)))
    return spec


def gan_model(torch, inputs, layers):
    nn = torch.nn
    out, features = [], inputs
    for op, arg in layers:
        if op == "dense":
            out.append(nn.Linear(features, int(arg)))
            features = int(arg)
        elif op == "leaky_relu":
            out.append(nn.LeakyReLU(float(arg) if arg else 0.01))
        elif op == "dropout":
            out.append(nn.Dropout(float(arg) if arg else 0.5))
        else:
            out.append({"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[op]())
    return nn.Sequential(*out)


def gan_train(threads, iterations, clock=time.perf_counter):
    """Iterations/s of gan.net's loop, the usual PyTorch GAN loop: D's step
    on real and detached fakes, then G's step on fresh noise. With clock =
    time.process_time: iterations per second of this process's CPU time."""
    import torch
    torch.set_num_threads(threads)
    if os.environ.get("COMPARE_FLUSH_DENORMAL") == "1" and not torch.set_flush_denormal(True):
        fail("torch.set_flush_denormal(True) is not supported on this CPU")
    spec = gan_spec(GAN)
    x, _ = load_train(torch, (784,))
    x = x * 2 - 1  # scale 1/127.5, shift -1
    torch.manual_seed(1)
    g = gan_model(torch, *spec["G"])
    d = gan_model(torch, *spec["D"])
    opt_g = torch.optim.Adam(g.parameters(), **spec["adam_G"])
    opt_d = torch.optim.Adam(d.parameters(), **spec["adam_D"])
    bce = torch.nn.BCEWithLogitsLoss()
    batch, dim = spec["batch"], spec["noise"][1]
    draw = torch.randn if spec["noise"][0] == "normal" else (lambda *s: torch.rand(*s) * 2 - 1)
    ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
    order = torch.randperm(x.shape[0])

    def iteration(i):
        real = x[order[(i * batch) % (x.shape[0] - batch):][:batch]]
        opt_d.zero_grad(set_to_none=True)
        loss_d = bce(d(real), ones) + bce(d(g(draw(batch, dim)).detach()), zeros)
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad(set_to_none=True)
        loss_g = bce(d(g(draw(batch, dim))), ones)
        loss_g.backward()
        opt_g.step()

    for i in range(30):
        iteration(i)
    start = clock()
    done = 0
    while done < iterations and (done < 30 or clock() - start < 15):
        iteration(30 + done)
        done += 1
    return done / (clock() - start)


def torch_blas():
    """The BLAS library PyTorch's matrix products run on (Debian's torch
    calls whatever libblas.so.3 the alternatives system points to), read
    from this process's mappings after one product."""
    import torch
    torch.ones(64, 64) @ torch.ones(64, 64)
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "blas" in line.split()[-1]}
    return sorted(os.path.realpath(p) for p in paths if p.startswith("/"))


def check_blas():
    """Stops before timing when PyTorch would run on the reference BLAS:
    its products are then 10-100x slower than any tuned BLAS and every
    ratio would measure the BLAS, not PyTorch."""
    libraries = torch_blas()
    if not libraries:
        fail("could not tell which BLAS PyTorch uses (no *blas* library mapped after a matrix product)")
    if any(lib.startswith(REFERENCE_BLAS) for lib in libraries):
        fail("PyTorch runs on Debian's reference BLAS (%s), 10-100x slower than a tuned one, so the "
             "comparison would measure that BLAS; install libopenblas0-pthread (`make bench-compare` installs "
             "libopenblas-dev, which makes OpenBLAS libblas.so.3) and run again" % ", ".join(libraries))
    return libraries


def netc_run(binary, steps):
    out = subprocess.run([binary, "train", "--steps", str(steps), "--threads", "2"],
                         capture_output=True, text=True, check=True).stdout
    for word_line in out.splitlines():
        if "samples/s" in word_line:
            words = word_line.split()
            return float(words[words.index("samples/s") - 1].replace(",", ""))
    raise RuntimeError("no samples/s in: " + out)


def torch_process(env, *args):
    out = subprocess.run([sys.executable, __file__, "--torch"] + [str(a) for a in args],
                         env=dict(os.environ, **env), capture_output=True, text=True, check=True).stdout
    return [float(word) for word in out.split()]


def training_table(title, results, ours, target):
    best = max(r for _, r in results)
    print(title)
    print("%-22s %12s %10s" % ("", "samples/s", "netc is"))
    for name, rate in results:
        print("%-22s %12.0f %9.2fx" % ("pytorch " + name, rate, ours / rate))
    print("%-22s %12.0f %9s" % ("netc (built binary)", ours, ""))
    print("netc vs PyTorch's best: %.2fx (target >= %.1fx: %s)"
          % (ours / best, target, "met" if ours / best >= target else "not met"))


def main():
    if sys.argv[1] == "--torch":
        what = sys.argv[2]
        if what == "mlp":
            print(mlp_train(int(sys.argv[3]), int(sys.argv[4])))
        elif what == "lenet":
            print(lenet_train(int(sys.argv[3]), int(sys.argv[4])))
        elif what == "gan":
            print(gan_train(int(sys.argv[3]), int(sys.argv[4])))
        elif what == "gan-cpu":
            print(1000 / gan_train(int(sys.argv[3]), int(sys.argv[4]), time.process_time))
        else:
            print(*latency(sys.argv[4] if len(sys.argv) > 4 else "lenet", int(sys.argv[3])))
        return
    build = sys.argv[1]
    if len(sys.argv) > 2 and sys.argv[2] == "--latency":
        for name, title in (("mlp", "MLP"), ("lenet", "LeNet")):
            latency_table(build, name, title)
        return
    only = None
    if len(sys.argv) > 2 and sys.argv[2] == "--only-gan":
        only = "gan"
        del sys.argv[2]
    mlp_steps = int(sys.argv[2]) if len(sys.argv) > 2 else 600
    lenet_steps = int(sys.argv[3]) if len(sys.argv) > 3 else 160

    # Fail before anything is timed if the PyTorch LeNet is not lenet.net's.
    spec = lenet_spec(LENET)
    params = check_lenet(os.path.join(build, "netc"), spec)

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    import_s = time.perf_counter() - start
    import torch
    print("PyTorch %s runs its matrix products on %s" % (torch.__version__, ", ".join(check_blas())))
    if only == "gan":
        gan_table(build)
        gan_cpu_table(build)
        return

    results = [(name, torch_process(env, "mlp", threads, mlp_steps)[0]) for name, threads, env in CONFIGS]
    ours = max(netc_run(os.path.join(build, "bench", "mlp"), mlp_steps * 2) for _ in range(3))
    training_table("MLP training on 2 cores, batch 128, AdamW: PyTorch %s vs netc" % torch.__version__,
                   results, ours, 1.5)
    print("python3 -c 'import torch' takes %.2f s here" % import_s)
    print(flush=True)

    convs = "; ".join("%s %d@%dx%d, padding %s -> nn.Conv2d(padding=%d)" % (label, f, k, k, w, p)
                      for label, f, k, p, w in spec["convs"])
    print("LeNet from examples/lenet.net: %s; %s; %s parameters, layer shapes checked against netc check"
          % (convs, ", ".join("%s %d" % d for d in spec["denses"]), format(params, ",")))
    results = [(name, torch_process(env, "lenet", threads, lenet_steps)[0]) for name, threads, env in CONFIGS]
    ours = max(netc_run(os.path.join(build, "bench", "lenet"), NETC_LENET_STEPS) for _ in range(3))
    adam = spec["adam"]
    training_table("LeNet training on 2 cores, batch %d, Adam lr %g%s: PyTorch %s vs netc"
                   % (spec["batch"], adam["lr"], ", cosine schedule" if spec["cosine"] else "", torch.__version__),
                   results, ours, LENET_RATE_TARGET)
    print(flush=True)

    gan_table(build)
    gan_cpu_table(build)

    for name, title in (("mlp", "MLP"), ("lenet", "LeNet")):
        latency_table(build, name, title)


def gan_table(build):
    gan = gan_spec(GAN)
    print("gan.net's twin: G %s, D %s, noise %s(%d), batch %d, adam per step (D %s, G %s)"
          % (" -> ".join(op + ("(%s)" % a if a else "") for op, a in gan["G"][1]),
             " -> ".join(op + ("(%s)" % a if a else "") for op, a in gan["D"][1]),
             gan["noise"][0], gan["noise"][1], gan["batch"], gan["adam_D"], gan["adam_G"]))
    # Paired: each PyTorch configuration, then a netc run straight after,
    # so a change in the machine's load between rows does not become a
    # ratio; the verdict uses the pair with PyTorch's best rate.
    binary = os.path.join(build, "bench", "gan")
    netc_run(binary, 100)  # warm the page cache and the data file
    pairs = []
    for name, threads, env in GAN_CONFIGS:
        rate = torch_process(env, "gan", threads, 400)[0]
        pairs.append((name, rate, netc_run(binary, 600) / gan["batch"]))
    print("GAN training on 2 cores (one D step and one G step per iteration): PyTorch %s vs netc"
          % torch_version())
    print("%-34s %14s %14s %8s" % ("pytorch configuration", "pytorch it/s", "netc it/s", "ratio"))
    for name, rate, ours in pairs:
        print("%-34s %14.1f %14.1f %7.2fx" % (name, rate, ours, ours / rate))
    name, rate, ours = max(pairs, key=lambda pair: pair[1])
    print("netc (built binary, --threads 2, run right after) vs PyTorch's best configuration (%s): %.2fx "
          "(floor >= %.1fx: %s)" % (name, ours / rate, GAN_RATE_TARGET,
                                    "met" if ours / rate >= GAN_RATE_TARGET else "not met"))
    print(flush=True)


def netc_cpu(binary, steps):
    """CPU seconds (user + system) of `BINARY train --steps STEPS --threads 1`."""
    before = os.times()
    subprocess.run([binary, "train", "--steps", str(steps), "--threads", "1"], capture_output=True, check=True)
    after = os.times()
    return (after.children_user - before.children_user) + (after.children_system - before.children_system)


def gan_cpu_table(build, rounds=3):
    """One thread each, per CPU second, which the load of a shared machine
    moves much less than wall-clock rates: PyTorch's CPU time per iteration
    (its process's, over up to 300 iterations after 30 of warm-up, OpenBLAS
    and OpenMP limited to one thread) against netc's (a 900-step run minus
    a 100-step one, so loading the data cancels out), in turn, `rounds`
    times; the medians."""
    binary = os.path.join(build, "bench", "gan")
    env = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    theirs, ours = [], []
    for _ in range(rounds):
        theirs.append(torch_process(env, "gan-cpu", 1, 300)[0])
        ours.append(1000 * (netc_cpu(binary, 900) - netc_cpu(binary, 100)) / 800)
    theirs.sort()
    ours.sort()
    torch_ms, netc_ms = theirs[rounds // 2], ours[rounds // 2]
    print("GAN training, one thread each, CPU time per iteration (median of %d, in turn): PyTorch %.1f ms "
          "(%s), netc %.1f ms (%s): %.2fx (floor >= %.1fx: %s)"
          % (rounds, torch_ms, " ".join("%.1f" % t for t in theirs), netc_ms, " ".join("%.1f" % t for t in ours),
             torch_ms / netc_ms, GAN_RATE_TARGET, "met" if torch_ms / netc_ms >= GAN_RATE_TARGET else "not met"))
    print(flush=True)


def latency_table(build, name, title):
    """PyTorch eager and frozen TorchScript with 1 and 2 threads, each with
    OpenBLAS's own thread pool as it comes and limited to the same thread
    count (PyTorch's best of all eight is the reference), against netc's
    emitted C, 1 and 2 threads. Targets: netc's best median under the floor
    and at least LATENCY_RATIO times faster than PyTorch's best; the
    one-thread figure is printed on its own line too."""
    rows = []
    for threads in (1, 2):
        for blas, env in (("", {}), (", blas %d" % threads, {"OPENBLAS_NUM_THREADS": str(threads)})):
            eager_median, eager_p10, frozen_median, frozen_p10 = torch_process(env, "latency", threads, name)
            rows.append(("pytorch eager" + blas, threads, eager_median, eager_p10))
            rows.append(("pytorch frozen jit" + blas, threads, frozen_median, frozen_p10))
    out = subprocess.run([os.path.join(build, "bench", "bench_train"), "--latency", name],
                         env=dict(os.environ, BUILD=build), capture_output=True, text=True, check=True).stdout
    netc_rows = [("netc (emitted C)", int(t), float(m), float(p)) for t, m, p in (line.split() for line in out.splitlines())]
    torch_best = min(rows, key=lambda r: r[2])
    netc_best = min(netc_rows, key=lambda r: r[2])
    target = LATENCY_TARGETS[name]
    print("%s batch-1 predict latency, microseconds: PyTorch %s vs netc" % (title, torch_version()))
    print("%-26s %8s %10s %12s %10s" % ("", "threads", "median", "10th pct", "netc is"))
    for row_name, threads, median, p10 in rows:
        print("%-26s %8d %10.1f %12.1f %9.2fx" % (row_name, threads, median, p10, median / netc_best[2]))
    for row_name, threads, median, p10 in netc_rows:
        print("%-26s %8d %10.1f %12.1f %10s" % (row_name, threads, median, p10, ""))
    ratio = torch_best[2] / netc_best[2]
    print("netc's best median %.1f us (%d thread%s) is %.2fx faster than PyTorch's best (%s, %d thread%s: %.1f us); "
          "targets: <= %.0f us (%s), >= %.1fx (%s)"
          % (netc_best[2], netc_best[1], "s" if netc_best[1] > 1 else "", ratio, torch_best[0][len("pytorch "):],
             torch_best[1], "s" if torch_best[1] > 1 else "", torch_best[2], target,
             "met" if netc_best[2] <= target else "not met", LATENCY_RATIO,
             "met" if ratio >= LATENCY_RATIO else "not met"))
    one = [r for r in netc_rows if r[1] == 1][0]
    print("one thread: %.1f us, %.2fx PyTorch's best" % (one[2], torch_best[2] / one[2]))
    print(flush=True)


def torch_version():
    import torch
    return torch.__version__


if __name__ == "__main__":
    main()
