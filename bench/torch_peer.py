#!/usr/bin/env python3
"""PyTorch peer of `deno task bench`: the same cases at the same shapes, printed as JSON lines in the
bench schema (see bench/schema.ts), so every claim is a ratio measured in one run.

Run by bench/main.ts --torch as:  python3 bench/torch_peer.py --config '<shapes and plan as JSON>'
Offline: random weights from configs only (no downloads). fp32 with TF32 off everywhere. Timing: warm-up,
a probe to size batches, then repeated batches timed with CUDA events (median, p10, p90 per iteration).
Prints a skipped line per case when torch (or transformers) is missing.
"""
import argparse
import json
import math
import re
import sys
import time

CASES = ["ceiling_read", "ceiling_matmul", "ffn_batched", "ffn_decode", "bert_forward", "gpt2_decode"]
MODEL = {"ceiling_read": "read", "ceiling_matmul": "matmul"}


def emit(rec):
    print(json.dumps(rec), flush=True)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def quantile(xs, q):
    s = sorted(xs)
    at = q * (len(s) - 1)
    lo, hi = math.floor(at), math.ceil(at)
    return s[lo] + (s[hi] - s[lo]) * (at - lo)


def r4(x):
    return float(f"{x:.4g}")


class Timer:
    """Times a step with CUDA events (or the wall clock on the CPU), as bench/timing.ts does."""

    def __init__(self, torch, device, plan):
        self.torch, self.device, self.plan = torch, device, plan

    def sync(self):
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()

    def batch_ms(self, step, n):
        torch = self.torch
        if self.device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(n):
                step()
            end.record()
            end.synchronize()
            return start.elapsed_time(end)
        t0 = time.perf_counter()
        for _ in range(n):
            step()
        return (time.perf_counter() - t0) * 1000

    def time(self, step, **over):
        p = dict(self.plan, **over)
        for _ in range(p["warmup"]):
            step()
        self.sync()
        probe = max(1e-3, self.batch_ms(step, 1))
        n = max(1, min(p["maxBatch"], math.ceil(p["minBatchMs"] / probe)))
        samples = [probe] if n == 1 else []
        min_rep = min(p["repeats"], p.get("minRepeats", 3))
        start = time.perf_counter() - (probe / 1000 if n == 1 else 0)
        while len(samples) < p["repeats"]:
            if len(samples) >= min_rep and (time.perf_counter() - start) * 1000 > p["budgetMs"]:
                break
            samples.append(self.batch_ms(step, n) / n)
        return {
            "ms_median": r4(quantile(samples, 0.5)),
            "ms_p10": r4(quantile(samples, 0.1)),
            "ms_p90": r4(quantile(samples, 0.9)),
            "iters": n * len(samples),
        }


def ffn_fn(torch, x, w1, b1, w2, b2, act):
    f = {"relu": torch.relu, "gelu": torch.nn.functional.gelu}[act]

    def step():
        h = f(torch.addmm(b1, x, w1))
        return torch.addmm(b2, h, w2).add_(x)

    return step


def run_case(name, cfg, torch, device, timer, dev_name):
    shapes = cfg["shapes"]
    g = torch.Generator(device=device).manual_seed(cfg.get("seed", 1))

    def randn(*shape, std=1.0):
        return torch.randn(*shape, generator=g, device=device, dtype=torch.float32) * std

    base = {"case": name, "impl": "torch", "device": dev_name}
    if name == "ceiling_read":
        n = shapes["readBytes"] // 4
        x = randn(n)
        t = timer.time(lambda: x.sum(), minBatchMs=100)
        emit({**base, "model": "read", "bytes": n * 4, **t, "gbps": r4(n * 4 / t["ms_median"] / 1e6),
              "note": "torch.sum over fp32"})
    elif name == "ceiling_matmul":
        n = shapes["matmul"]
        a, b = randn(n, n), randn(n, n, std=1 / math.sqrt(n))
        t = timer.time(lambda: torch.mm(a, b))
        emit({**base, "model": "matmul", "m": n, "n": n, "k": n, **t,
              "tflops": r4(2 * n ** 3 / t["ms_median"] / 1e9),
              "note": "cuBLAS fp32, TF32 off" if device.type == "cuda" else "torch.mm fp32 on the CPU"})
    elif name in ("ffn_batched", "ffn_decode"):
        f = shapes["ffn"]
        d, dff, act = f["d"], f["dff"], f["act"]
        T = f["tokens"] if name == "ffn_batched" else 1
        x = randn(T, d)
        w1, b1 = randn(d, dff, std=1 / math.sqrt(d)), randn(dff, std=0.02)
        w2, b2 = randn(dff, d, std=1 / math.sqrt(dff)), randn(d, std=0.02)
        t = timer.time(ffn_fn(torch, x, w1, b1, w2, b2, act))
        rec = {**base, "model": "dense", "ffn_fraction": 1, "tokens": T, "d": d, "d_ff": dff, "act": act, **t}
        if name == "ffn_batched":
            rec["tflops"] = r4(4 * T * d * dff / t["ms_median"] / 1e9)
        else:
            rec["gbps"] = r4(4 * (2 * d * dff + dff + d) / t["ms_median"] / 1e6)
        emit(rec)
    elif name == "bert_forward":
        from transformers import BertConfig, BertModel
        s = shapes["bert"]
        conf = BertConfig(hidden_size=s["hidden"], num_hidden_layers=s["layers"], num_attention_heads=s["heads"],
                          intermediate_size=s["ffn"], hidden_act=s["act"], vocab_size=s["vocab"],
                          max_position_embeddings=s["positions"])
        with device:
            model = BertModel(conf).eval()
        B, S = s["batch"], s["seq"]
        ids = torch.randint(1, s["vocab"], (B, S), generator=g, device=device)
        mask = torch.ones(B, S, dtype=torch.long, device=device)
        types = torch.zeros(B, S, dtype=torch.long, device=device)
        t = timer.time(lambda: model(input_ids=ids, attention_mask=mask, token_type_ids=types))
        C, I, tok = s["hidden"], s["ffn"], B * S
        flops = tok * s["layers"] * (2 * (4 * C * C + 2 * S * C) + 4 * C * I)
        emit({**base, "model": "dense", "ffn_fraction": 1, "batch": B, "seq": S, "layers": s["layers"],
              "hidden": C, "d_ff": I, "act": s["act"], **t, "tflops": r4(flops / t["ms_median"] / 1e9),
              "note": f"transformers BertModel, attn {getattr(model.config, '_attn_implementation', '?')}"})
    elif name == "gpt2_decode":
        from transformers import GPT2Config, GPT2LMHeadModel
        s = shapes["gpt2"]
        conf = GPT2Config(n_embd=s["hidden"], n_layer=s["layers"], n_head=s["heads"], n_inner=s["ffn"],
                          activation_function=s["act"], vocab_size=s["vocab"], n_positions=s["positions"],
                          bos_token_id=s["vocab"] - 1, eos_token_id=s["vocab"] - 1)
        with device:
            model = GPT2LMHeadModel(conf).eval()
        P, N = s["prompt"], s["newTokens"]
        ids = torch.randint(0, s["vocab"] - 1, (1, P), generator=g, device=device)
        mask = torch.ones(1, P, dtype=torch.long, device=device)

        def step():
            out = model.generate(ids, attention_mask=mask, max_new_tokens=N, min_new_tokens=N, do_sample=False,
                                 pad_token_id=conf.eos_token_id, use_cache=True)
            assert out.shape[1] == P + N

        t = timer.time(step, warmup=1, minBatchMs=0, repeats=3 if cfg.get("quick") else 5)
        emit({**base, "model": "dense", "ffn_fraction": 1, "batch": 1, "prompt": P, "new_tokens": N,
              "layers": s["layers"], "hidden": s["hidden"], "d_ff": s["ffn"], "act": s["act"], **t,
              "tokens_per_s": r4(N / (t["ms_median"] / 1000)), "ms_per_token": r4(t["ms_median"] / N),
              "note": f"transformers GPT2LMHeadModel.generate (greedy, eager), attn "
                      f"{getattr(model.config, '_attn_implementation', '?')}"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="JSON: {shapes, plan, seed, quick, cases}")
    args = ap.parse_args()
    cfg = json.loads(args.config)
    cases = [c for c in cfg.get("cases", CASES) if c in CASES]
    try:
        import torch
    except Exception as e:  # noqa: BLE001
        for c in cases:
            emit({"case": c, "impl": "torch", "model": MODEL.get(c, "dense"), "device": "python3", "status": "skipped",
                  "note": f"torch is not installed ({e})"})
        return 0
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    dev_name = (f"gpu [torch {torch.__version__}] {torch.cuda.get_device_name(0)}" if cuda
                else f"cpu [torch {torch.__version__}]")
    log(f"torch peer: {dev_name}")
    timer = Timer(torch, device, cfg["plan"])
    for c in cases:
        log(f"  torch {c}")
        try:
            with torch.no_grad():
                run_case(c, cfg, torch, device, timer, dev_name)
        except Exception as e:  # noqa: BLE001
            msg = re.sub(r"\s+", " ", f"{type(e).__name__}: {e}")[:300]
            emit({"case": c, "impl": "torch", "model": MODEL.get(c, "dense"), "device": dev_name, "status": "error",
                  "note": msg})
        finally:
            if cuda:
                torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
