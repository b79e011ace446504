#!/usr/bin/python3
"""bench/compare_lm.py - examples/charlstm.net and examples/gpt.net trained
by PyTorch twins and by the netc-built binaries on the same two cores, in
the same run: training tokens per second.

The twins are derived from the .net files: the constants (SEQ, T, D,
VOCAB), the model's chain of layers (charlstm: embed, lstm/gru/rnn,
dropout, dense; gpt: embed, position, `repeat N block(heads = H)`,
layernorm, dense, with the block checked word for word), the optimizer
and its hyper-parameters, the cosine schedule's warm-up, `clip` and
`batch`. Whatever the script does not mirror stops the run, and before
anything is timed each twin's parameter count is compared with `netc check
FILE` (PyTorch's recurrent layers have a second bias, bias_hh, which netc's
do not: it is frozen at zero and left out of the count), so an edit to a
file that the twin does not follow is an error, not a comparison of
different networks.

Both train on windows of the King James Bible (build/data/kjv.txt, as the
files' text() reads it) held in memory. PyTorch: torch.set_num_threads(2)
with OMP_WAIT_POLICY=PASSIVE,
5 steps of warm-up, then STEPS timed steps (forward, cross-entropy,
backward, clipping, the optimizer). netc: the best of two `./NAME train
--steps N --threads 2` runs, whose samples/s covers the same work plus
batch gathering; tokens/s = samples/s * the window length. The issue's
floors: netc at 3x PyTorch's tokens/s for charlstm and 2.5x for gpt.

Not measured here: validation loss after the same steps (each model's
train block is 2,000-3,000 steps, minutes of the shared machine per run).

Usage: compare_lm.py BUILD [STEPS]    (from the project root; BUILD holds
netc, data/kjv.txt and the built bench/charlstm and bench/gpt)
"""
import math
import os
import re
import subprocess
import sys
import time

# OpenMP's spinning workers fight the machine's other jobs for the two
# cores; set before torch is imported (compare_torch.py found PASSIVE the
# better configuration when the machine is shared).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
FLOORS = {"charlstm": 3.0, "gpt": 2.5}
GPT_BLOCK = ("layer block(x: f32[T, D], heads: int) { x = x + (x -> layernorm -> attention(heads, causal)) "
             "return x + (x -> layernorm -> dense(4*D) -> gelu -> dense(D)) }")


def fail(message):
    sys.exit("compare_lm.py: " + message)


def source(name):
    path = os.path.join(ROOT, "examples", name + ".net")
    return path, re.sub(r"#[^\n]*", "", open(path).read())


def consts(text):
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"const\s+(\w+)\s*=\s*(\d+)", text)}


def value(text, c, path):
    text = text.strip()
    if text.isdigit():
        return int(text)
    if text in c:
        return c[text]
    fail("%s: '%s' is not a number or a constant the twin knows" % (path, text))


def train_block(text, path):
    """optimizer (kind, hyper), warm-up, clip, batch and steps of the file's train block."""
    out = {}
    m = re.search(r"optimizer\s+(adam|adamw)\(([^)]*)\)", text)
    if not m:
        fail("%s: the twin mirrors adam or adamw only" % path)
    hyper = dict(kv.split("=") for kv in m.group(2).replace(" ", "").split(",") if kv)
    out["opt"] = (m.group(1), {k: float(v) for k, v in hyper.items()})
    m = re.search(r"schedule\s+cosine\(warmup\s*=\s*(\d+)\)", text)
    out["warmup"] = int(m.group(1)) if m else None
    if re.search(r"schedule", text) and not m:
        fail("%s: only schedule cosine(warmup = N) is mirrored" % path)
    for key in ("clip", "batch", "steps"):
        m = re.search(r"^\s*%s\s+([\d.e-]+)" % key, text, re.M)
        out[key] = float(m.group(1)) if m else None
    return out


def netc_params(build, path):
    out = subprocess.run([os.path.join(build, "netc"), "check", path], capture_output=True, text=True)
    m = re.search(r"parameters: ([\d,]+)", out.stdout)
    if out.returncode or not m:
        fail("netc check %s failed:\n%s" % (path, out.stderr))
    return int(m.group(1).replace(",", ""))


def charlstm_model(torch, text, path):
    nn = torch.nn
    c = consts(text)
    m = re.search(r"model\s+\w+\(\s*\w+\s*:\s*i32\[(\w+)\]\s*\)\s*->\s*f32\[[^\]]*\]\s*\{([^}]*)\}", text)
    if not m:
        fail("%s: model NAME(tok: i32[SEQ]) -> f32[SEQ, VOCAB] { ... } not found" % path)
    seq = value(m.group(1), c, path)
    stages = [s.strip() for s in m.group(2).split("->")][1:]
    layers, width = [], None

    class Recurrent(nn.Module):
        def __init__(self, kind, inputs, units):
            super().__init__()
            self.cell = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind](inputs, units, batch_first=True)
            self.cell.bias_hh_l0.data.zero_()
            self.cell.bias_hh_l0.requires_grad_(False)

        def forward(self, x):
            return self.cell(x)[0]

    for st in stages:
        sm = re.fullmatch(r"(\w+)\(([^)]*)\)", st)
        if not sm:
            fail("%s: stage '%s' is not mirrored by the twin" % (path, st))
        op, args = sm.group(1), [a.strip() for a in sm.group(2).split(",")]
        if op == "embed":
            layers.append(nn.Embedding(value(args[0], c, path), value(args[1], c, path)))
            width = value(args[1], c, path)
        elif op in ("lstm", "gru", "rnn") and len(args) == 1:
            layers.append(Recurrent(op, width, value(args[0], c, path)))
            width = value(args[0], c, path)
        elif op == "dropout":
            layers.append(nn.Dropout(float(args[0])))
        elif op == "dense":
            layers.append(nn.Linear(width, value(args[0], c, path)))
            width = value(args[0], c, path)
        else:
            fail("%s: stage '%s' is not mirrored by the twin" % (path, st))
    return nn.Sequential(*layers), seq


def gpt_model(torch, text, path):
    nn = torch.nn
    c = consts(text)
    block = re.search(r"layer\s+block.*?\n\}", text, re.S)
    if not block or re.sub(r"\s+", " ", block.group(0)) != GPT_BLOCK:
        fail("%s: the block layer is not the one the twin mirrors:\n  %s" % (path, GPT_BLOCK))
    m = re.search(r"model\s+\w+\(\s*\w+\s*:\s*i32\[(\w+)\]\s*\)[^{]*\{\s*h\s*=\s*\w+\s*->\s*embed\((\w+),\s*(\w+)\)"
                  r"\s*->\s*position\s+h\s*->\s*repeat\s+(\d+)\s+block\(heads\s*=\s*(\d+)\)\s*->\s*layernorm"
                  r"\s*->\s*dense\((\w+)\)\s*\}", text)
    if not m:
        fail("%s: the model is not embed -> position -> repeat N block(heads = H) -> layernorm -> dense" % path)
    t, vocab, d = value(m.group(1), c, path), value(m.group(2), c, path), value(m.group(3), c, path)
    n, heads, out = int(m.group(4)), int(m.group(5)), value(m.group(6), c, path)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
            self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(approximate="tanh"), nn.Linear(4 * d, d))
            self.register_buffer("mask", torch.triu(torch.ones(t, t, dtype=torch.bool), 1))

        def forward(self, x):
            h = self.ln1(x)
            x = x + self.attn(h, h, h, attn_mask=self.mask, need_weights=False)[0]
            return x + self.mlp(self.ln2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(vocab, d)
            self.position = nn.Parameter(torch.zeros(t, d))
            self.blocks = nn.Sequential(*[Block() for _ in range(n)])
            self.ln = nn.LayerNorm(d)
            self.head = nn.Linear(d, out)

        def forward(self, tok):
            return self.head(self.ln(self.blocks(self.embed(tok) + self.position)))

    return GPT(), t


def torch_rate(name, build, steps):
    import torch
    torch.set_num_threads(2)
    torch.manual_seed(1)
    path, text = source(name)
    model, seq = (charlstm_model if name == "charlstm" else gpt_model)(torch, text, path)
    count = sum(p.numel() for p in model.parameters() if p.requires_grad)
    want = netc_params(build, path)
    if count != want:
        fail("the PyTorch %s has %d parameters, netc check %s says %d" % (name, count, path, want))
    tb = train_block(text, path)
    kind, hyper = tb["opt"]
    params = [p for p in model.parameters() if p.requires_grad]
    opt = (torch.optim.Adam if kind == "adam" else torch.optim.AdamW)(
        params, lr=hyper.get("lr", 1e-3), weight_decay=hyper.get("weight_decay", 0.0 if kind == "adam" else 0.01))
    data = open(os.path.join(build, "data", "kjv.txt"), "rb").read()
    windows = torch.tensor(list(data[: (len(data) - 1) // seq * seq + 1]), dtype=torch.long)
    n = (len(windows) - 1) // seq
    x_all, y_all = windows[:-1].view(n, seq), windows[1:].view(n, seq)
    batch, total = int(tb["batch"] or 32), int(tb["steps"] or 1000)
    loss_fn = torch.nn.CrossEntropyLoss()
    model_out = model[-1].out_features if name == "charlstm" else model.head.out_features
    gen = torch.Generator().manual_seed(1)

    def step(i):
        idx = torch.randint(0, n, (batch,), generator=gen)
        if tb["warmup"] is not None:
            warm = tb["warmup"]
            lr = hyper.get("lr", 1e-3) * (min(1.0, (i + 1) / warm) if i < warm else
                                          0.5 * (1 + math.cos(math.pi * (i - warm) / max(1, total - warm))))
            for g in opt.param_groups:
                g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(x_all[idx]).reshape(-1, model_out), y_all[idx].reshape(-1))
        loss.backward()
        if tb["clip"]:
            torch.nn.utils.clip_grad_norm_(params, tb["clip"])
        opt.step()

    model.train()
    for i in range(5):
        step(i)
    t0 = time.perf_counter()
    for i in range(steps):
        step(5 + i)
    return batch * seq * steps / (time.perf_counter() - t0), seq


def netc_rate(build, name, steps, seq):
    best = 0.0
    for _ in range(2):
        out = subprocess.run([os.path.join(build, "bench", name), "train", "--steps", str(steps), "--threads", "2"],
                             capture_output=True, text=True)
        m = re.search(r"([\d,]+) samples/s", out.stdout)
        if out.returncode or not m:
            fail("%s train failed:\n%s%s" % (name, out.stdout, out.stderr))
        best = max(best, float(m.group(1).replace(",", "")) * seq)
    return best


def main():
    if len(sys.argv) < 2:
        fail("usage: compare_lm.py BUILD [STEPS]")
    build = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    print("\nLanguage models, training tokens/s on 2 threads (PyTorch %s twins derived from the files, "
          "%d timed steps; netc: best of 2 runs of %d steps)" % (__import__("torch").__version__, steps, steps))
    print("%-9s %12s %12s %8s %7s" % ("model", "PyTorch", "netc", "ratio", "floor"))
    for name in ("charlstm", "gpt"):
        theirs, seq = torch_rate(name, build, steps)
        ours = netc_rate(build, name, steps, seq)
        print("%-9s %12.0f %12.0f %7.2fx %6.1fx %s" % (name, theirs, ours, ours / theirs, FLOORS[name],
                                                     "ok" if ours / theirs >= FLOORS[name] else "BELOW FLOOR"))


if __name__ == "__main__":
    main()
