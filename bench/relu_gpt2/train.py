# Trains a small ReLU GPT-2 on the npm corpora, the kind of real sparse language model D2DMoE is for (issue
# 3; docs/conversion.md, "A real sparse language model"): a byte-level BPE tokenizer (4096), 4 layers,
# d 256, d_ff 1024, ReLU; every 25th paragraph held out. On the GPU machine (PyTorch + transformers):
#   here:  deno run -A bench/relu_gpt2/corpus.ts relu_train/corpus.txt.xz   (an untracked folder travels)
#   there: TRAIN_S=240 python3 bench/relu_gpt2/train.py relu_train/corpus.txt.xz
# Writes $OUT/part_* (a tar in parts: `cat part_* | tar -x` gives gpt2-relu/, a Hugging Face folder, and
# test.txt, the held-out paragraphs) and $OUT/train.json (steps, test perplexity, ReLU zero fraction).
import json, lzma, math, os, random, sys, time
import torch
from tokenizers import Tokenizer, models, trainers, pre_tokenizers, decoders
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

out = os.environ["OUT"]
budget = float(os.environ.get("TRAIN_S", "300"))
torch.manual_seed(0); random.seed(0)
paras = [p for p in lzma.open(sys.argv[1], "rt").read().split("\n") if p.strip()]
test = paras[::25]
train = [p for i, p in enumerate(paras) if i % 25]
tok = Tokenizer(models.BPE())
tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
tok.decoder = decoders.ByteLevel()
tok.train_from_iterator(train, trainers.BpeTrainer(
    vocab_size=4096, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                               unk_token="<|endoftext|>")
eos = tok.token_to_id("<|endoftext|>")
def stream(ps):
    ids = []
    for enc in tok.encode_batch(ps):
        ids.extend(enc.ids); ids.append(eos)
    return torch.tensor(ids, dtype=torch.long)
tr, te = stream(train), stream(test)
print("tokens train", len(tr), "test", len(te), flush=True)
cfg = GPT2Config(vocab_size=4096, n_positions=256, n_embd=256, n_layer=4, n_head=4, n_inner=1024,
                 activation_function="relu", bos_token_id=eos, eos_token_id=eos,
                 resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1)
dev = "cuda"
model = GPT2LMHeadModel(cfg).to(dev)
opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1, betas=(0.9, 0.95))
T, B = 256, 64
trd = tr.to(dev)
def batch():
    ix = torch.randint(0, len(trd) - T - 1, (B,), device=dev)
    x = torch.stack([trd[i:i + T] for i in ix])
    return x
t0 = time.time(); step = 0; est_steps = None
while True:
    el = time.time() - t0
    if el > budget: break
    frac = el / budget
    lr = 1e-3 * min(1.0, (step + 1) / 200) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
    for g in opt.param_groups: g["lr"] = lr
    x = batch()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(input_ids=x, labels=x).loss
    opt.zero_grad(set_to_none=True); loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()
    if step % 500 == 0: print(f"step {step} t {el:.0f}s loss {loss.item():.3f} lr {lr:.2e}", flush=True)
    step += 1
model.eval()
zeros = []; hooks = []
for blk in model.transformer.h:
    hooks.append(blk.mlp.act.register_forward_hook(lambda m, i, o: zeros.append((o == 0).float().mean().item())))
nll, n = 0.0, 0
with torch.no_grad():
    ted = te.to(dev)
    for s in range(0, len(ted) - 1, T):
        x = ted[s:s + T + 1]
        if len(x) < 2: break
        logits = model(input_ids=x[:-1][None]).logits[0].float()
        nll += torch.nn.functional.cross_entropy(logits, x[1:], reduction="sum").item(); n += len(x) - 1
for h in hooks: h.remove()
res = {"steps": step, "test_tokens": n, "test_ppl": math.exp(nll / n), "relu_zero_fraction": sum(zeros) / len(zeros)}
print(json.dumps(res), flush=True)
os.makedirs(f"{out}/model", exist_ok=True)
model.save_pretrained(f"{out}/model", safe_serialization=True)
fast.save_pretrained(f"{out}/model")
open(f"{out}/test.txt", "w").write("\n\n".join(test))
json.dump(res, open(f"{out}/train.json", "w"))
# The device returns at most 8 files, each under a size limit: ship the model folder and the test text as
# one tar in 6 MB parts (there: cat part_* | tar -x).
import io, shutil, tarfile
os.remove(f"{out}/model/generation_config.json")
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w") as tar:
    tar.add(f"{out}/model", arcname="gpt2-relu")
    tar.add(f"{out}/test.txt", arcname="test.txt")
shutil.rmtree(f"{out}/model"); os.remove(f"{out}/test.txt")
data = buf.getvalue()
for i in range(0, len(data), 6_000_000):
    open(f"{out}/part_{i // 6_000_000:02d}", "wb").write(data[i:i + 6_000_000])
print("archive bytes", len(data), flush=True)
