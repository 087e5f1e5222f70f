#!/usr/bin/python3
"""Reference side of the bring-your-own-model tests and benchmark (Debian's python3-torch).

  byo_ref.py make --vocab V --out DIR [--layers 2 --hidden 64 --heads 2 --classes 2 --seed 1]
      writes DIR/good.pt (a small BERT-shaped classifier: forward(input_ids, attention_mask) ->
      logits [B, C]) and the bad modules DIR/wrong_signature.pt, DIR/throws.pt (raises always),
      DIR/throws_on_word.pt (raises when the id of --throw-word, default "the", appears), DIR/small_table.pt
      (an embedding table smaller than the vocabulary), DIR/three_classes.pt.
  byo_ref.py score --module M --vocab V --max-length L --out TSV SHARD...
      reads each shard's uid and text with h5py, tokenises them with this file's own WordPiece
      (BERT's rules, written independently of trawl's C++ tokenizer) and writes
      uid<TAB>p_0<TAB>...<TAB>p_{C-1} from torch.softmax of the module's logits, one text per batch
      row padded to the batch's longest (batches of 32 in shard order).
  byo_ref.py train --module M --vocab V --labels TSV [--epochs 1 --batch-size 16] SHARD...
      fine-tunes like trawl-train --model torchscript and prints examples/s (benchmark only).
  byo_ref.py compare --ref TSV --threshold T SCORES.h5...
      max |p_trawl - p_ref| over all uids (every uid of the reference must be scored); exit 1 when
      above T or when a uid is missing.
"""
import argparse
import sys
import time
import unicodedata

import h5py
import numpy as np
import torch
from torch import nn
from typing import List


# ---- modules -------------------------------------------------------------------------------------

class Layer(nn.Module):
    def __init__(self, h: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(h, h)
        self.k = nn.Linear(h, h)
        self.v = nn.Linear(h, h)
        self.o = nn.Linear(h, h)
        self.ln1 = nn.LayerNorm(h)
        self.ff1 = nn.Linear(h, 4 * h)
        self.ff2 = nn.Linear(4 * h, h)
        self.ln2 = nn.LayerNorm(h)
        self.drop = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, l, h = x.shape
        d = h // self.heads
        q = self.q(x).view(b, l, self.heads, d).transpose(1, 2)
        k = self.k(x).view(b, l, self.heads, d).transpose(1, 2)
        v = self.v(x).view(b, l, self.heads, d).transpose(1, 2)
        a = torch.softmax(q @ k.transpose(-1, -2) / (d ** 0.5) + bias, dim=-1)
        c = (self.drop(a) @ v).transpose(1, 2).reshape(b, l, h)
        x = self.ln1(x + self.drop(self.o(c)))
        return self.ln2(x + self.drop(self.ff2(torch.nn.functional.gelu(self.ff1(x)))))


class Classifier(nn.Module):
    def __init__(self, vocab: int, h: int, layers: int, heads: int, classes: int, positions: int = 512):
        super().__init__()
        self.tok = nn.Embedding(vocab, h)
        self.pos = nn.Embedding(positions, h)
        self.ln = nn.LayerNorm(h)
        self.layers = nn.ModuleList([Layer(h, heads) for _ in range(layers)])
        self.pool = nn.Linear(h, h)
        self.classifier = nn.Linear(h, classes)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        l = input_ids.shape[1]
        pos = torch.arange(l, device=input_ids.device).unsqueeze(0)
        x = self.ln(self.tok(input_ids) + self.pos(pos))
        bias = ((1.0 - attention_mask.to(x.dtype)) * -10000.0)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, bias)
        return self.classifier(torch.tanh(self.pool(x[:, 0])))


class WrongSignature(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Linear(1, 2)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.w(input_ids[:, :1].float())


class Throws(nn.Module):
    def __init__(self, word_id: int):
        super().__init__()
        self.word_id = word_id
        self.w = nn.Linear(1, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        if self.word_id < 0 or bool((input_ids == self.word_id).any()):
            raise RuntimeError("deliberate failure of the test module")
        return self.w(attention_mask.sum(1, keepdim=True).float())


def make(a):
    vocab = [t.rstrip("\n") for t in open(a.vocab, encoding="utf-8")]
    torch.manual_seed(a.seed)
    good = Classifier(len(vocab), a.hidden, a.layers, a.heads, a.classes).eval()
    torch.jit.save(torch.jit.script(good), f"{a.out}/good.pt")
    torch.jit.save(torch.jit.script(Classifier(len(vocab), a.hidden, a.layers, a.heads, 3).eval()),
                   f"{a.out}/three_classes.pt")
    torch.jit.save(torch.jit.script(Classifier(len(vocab) // 2, a.hidden, 1, a.heads, a.classes).eval()),
                   f"{a.out}/small_table.pt")
    torch.jit.save(torch.jit.script(WrongSignature()), f"{a.out}/wrong_signature.pt")
    torch.jit.save(torch.jit.script(Throws(-1)), f"{a.out}/throws.pt")
    torch.jit.save(torch.jit.script(Throws(vocab.index(a.throw_word))),
                   f"{a.out}/throws_on_word.pt")


# ---- WordPiece (BERT's BasicTokenizer + greedy longest-match-first) -------------------------------

def is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
            or 0x2F800 <= cp <= 0x2FA1F)


class WordPiece:
    def __init__(self, vocab: List[str], lowercase=True):
        self.ids = {t: i for i, t in enumerate(vocab)}
        self.lowercase = lowercase

    def words(self, text):
        out, cur = [], []

        def flush():
            if cur:
                out.append("".join(cur))
                cur.clear()
        for ch in text:
            cp = ord(ch)
            if ch in "\t\n\r" or ch == " " or unicodedata.category(ch) == "Zs":
                flush()
                continue
            if cp == 0 or cp == 0xFFFD or unicodedata.category(ch).startswith("C"):
                continue
            if is_cjk(cp):
                flush()
                out.append(ch)
                continue
            if self.lowercase:
                chars = [c for c in unicodedata.normalize("NFD", ch.lower()) if unicodedata.category(c) != "Mn"]
            else:
                chars = [ch]
            for c in chars:
                if is_punct(c):
                    flush()
                    out.append(c)
                else:
                    cur.append(c)
        flush()
        return out

    def encode(self, text, max_length):
        pieces = []
        for w in self.words(text):
            if len(w) > 100:
                pieces.append(self.ids["[UNK]"])
                continue
            start, sub = 0, []
            while start < len(w):
                end, found = len(w), None
                while start < end:
                    s = w[start:end] if start == 0 else "##" + w[start:end]
                    if s in self.ids:
                        found = self.ids[s]
                        break
                    end -= 1
                if found is None:
                    sub = [self.ids["[UNK]"]]
                    break
                sub.append(found)
                start = end
            pieces.extend(sub)
        return [self.ids["[CLS]"]] + pieces[: max_length - 2] + [self.ids["[SEP]"]]


def read_shard(path):
    with h5py.File(path, "r") as f:
        uid = f["uid"][:]
        off = f["text_offsets"][:]
        raw = f["text_bytes"][:].tobytes()
    texts = [raw[off[i]:off[i + 1]].decode("utf-8", errors="replace") for i in range(len(uid))]
    return uid, texts


def run_batches(m, ids_list, batch=32):
    outs = []
    with torch.inference_mode():
        for s in range(0, len(ids_list), batch):
            rows = ids_list[s:s + batch]
            L = max(len(r) for r in rows)
            ids = torch.zeros((len(rows), L), dtype=torch.long)
            mask = torch.zeros((len(rows), L), dtype=torch.long)
            for i, r in enumerate(rows):
                ids[i, :len(r)] = torch.tensor(r)
                mask[i, :len(r)] = 1
            outs.append(torch.softmax(m(ids, mask).float(), dim=1))
    return torch.cat(outs).numpy()


def score(a):
    torch.set_num_threads(a.threads)
    vocab = [t.rstrip("\n") for t in open(a.vocab, encoding="utf-8")]
    wp = WordPiece(vocab)
    m = torch.jit.load(a.module).eval()
    uids, texts = [], []
    for s in a.shards:
        u, t = read_shard(s)
        uids.extend(int(x) for x in u)
        texts.extend(t)
    t0 = time.time()
    ids = [wp.encode(t, a.max_length) for t in texts]
    p = run_batches(m, ids)
    dt = time.time() - t0
    with open(a.out, "w") as f:
        for u, row in zip(uids, p):
            f.write(str(u) + "\t" + "\t".join("%.9g" % v for v in row) + "\n")
    print(f"python3-torch scored {len(uids)} texts in {dt:.3f} s ({len(uids) / dt:.1f} texts/s, "
          f"{a.threads} threads)", file=sys.stderr)


def embed(a):
    """A TorchScript encoder over the shards' texts as trawl-embed runs it: WordPiece ids, the
    module's output mean-pooled over the mask when it is [B, L, H], L2-normalised; compared with
    the embeddings of the shards trawl-embed wrote (same rows, in order)."""
    torch.set_num_threads(1)
    vocab = [t.rstrip("\n") for t in open(a.vocab, encoding="utf-8")]
    wp = WordPiece(vocab)
    m = torch.jit.load(a.module).eval()
    worst, rows = 0.0, 0
    with torch.inference_mode():
        for path in a.shards:
            _, texts = read_shard(path)
            with h5py.File(path, "r") as f:
                got = f["embedding"][:].astype(np.float64)
            for t, g in zip(texts, got):
                r = wp.encode(t, a.max_length)
                ids = torch.tensor([r], dtype=torch.long)
                mask = torch.ones_like(ids)
                h = m(ids, mask).double()
                v = h[0].mean(0) if h.dim() == 3 else h[0]
                v = (v / v.norm()).numpy()
                worst = max(worst, float(np.abs(v - g).max()))
                rows += 1
    print(f"{rows} embeddings, largest difference {worst:.3g} (threshold {a.threshold})", file=sys.stderr)
    if rows == 0 or worst > a.threshold:
        print("FAIL: embeddings differ from the python3-torch reference", file=sys.stderr)
        sys.exit(1)


def train(a):
    """One fine-tuning run like trawl-train --model torchscript (class-weighted cross-entropy,
    AdamW, linear warm-up then decay, batches in a shuffled order); prints examples/s of the
    training loop only (for bench/bench_byo.sh)."""
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    vocab = [t.rstrip("\n") for t in open(a.vocab, encoding="utf-8")]
    wp = WordPiece(vocab)
    uid_text = {}
    for s in a.shards:
        u, t = read_shard(s)
        uid_text.update(zip((int(x) for x in u), t))
    rows = [line.rstrip("\n").split("\t") for line in open(a.labels)][1:]
    classes = sorted({r[1] for r in rows})
    y = [classes.index(r[1]) for r in rows]
    ids = [wp.encode(uid_text[int(r[0])], a.max_length) for r in rows]
    n, C = len(y), len(classes)
    counts = [y.count(c) for c in range(C)]
    w = torch.tensor([n / (C * k) if k else 0.0 for k in counts], dtype=torch.float)
    m = torch.jit.load(a.module)
    m.train()
    steps = -(-n // a.batch_size) * a.epochs
    warm = int(np.ceil(0.1 * steps))
    opt = torch.optim.AdamW(m.parameters(), lr=a.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else (steps - s) / (steps - warm))
    t0 = time.time()
    g = torch.Generator().manual_seed(a.seed)
    for _ in range(a.epochs):
        perm = torch.randperm(n, generator=g).tolist()
        for s in range(0, n, a.batch_size):
            b = perm[s:s + a.batch_size]
            L = max(len(ids[i]) for i in b)
            x = torch.zeros((len(b), L), dtype=torch.long)
            mask = torch.zeros((len(b), L), dtype=torch.long)
            for j, i in enumerate(b):
                x[j, :len(ids[i])] = torch.tensor(ids[i])
                mask[j, :len(ids[i])] = 1
            loss = torch.nn.functional.cross_entropy(m(x, mask), torch.tensor([y[i] for i in b]), weight=w)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    dt = time.time() - t0
    print(f"python3-torch fine-tuned on {n * a.epochs} examples in {dt:.3f} s ({n * a.epochs / dt:.1f} examples/s, "
          f"{a.threads} threads)", file=sys.stderr)


def compare(a):
    ref = {}
    for line in open(a.ref):
        f = line.rstrip("\n").split("\t")
        ref[int(f[0])] = np.array([float(x) for x in f[1:]], dtype=np.float64)
    got = {}
    for s in a.scores:
        with h5py.File(s, "r") as f:
            for u, p in zip(f["uid"][:], f["probs"][:]):
                got[int(u)] = p.astype(np.float64)
    if a.subset:  # the scores cover some of the reference's uids (a subpool)
        extra = [u for u in got if u not in ref]
        if extra or not got:
            print(f"FAIL: {len(extra)} scored uids not in the reference, {len(got)} scored", file=sys.stderr)
            sys.exit(1)
        ref = {u: ref[u] for u in got}
    missing = [u for u in ref if u not in got]
    if missing or len(got) != len(ref):
        print(f"FAIL: {len(missing)} reference uids not scored (e.g. {missing[:3]}), {len(got)} scored vs "
              f"{len(ref)} in the reference", file=sys.stderr)
        sys.exit(1)
    worst = max(float(np.max(np.abs(got[u] - ref[u]))) for u in ref)
    spread = max(float(np.max(ref[u]) - np.min(ref[u])) for u in ref)
    print(f"compared {len(ref)} uids: max |trawl - python| = {worst:.3g} (threshold {a.threshold}); "
          f"max class spread {spread:.3g}")
    if not worst <= a.threshold:
        sys.exit(1)
    if spread < 1e-3:
        print("FAIL: the reference probabilities are all near-uniform; the comparison would prove nothing",
              file=sys.stderr)
        sys.exit(1)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--vocab", required=True)
    m.add_argument("--out", required=True)
    m.add_argument("--layers", type=int, default=2)
    m.add_argument("--hidden", type=int, default=64)
    m.add_argument("--heads", type=int, default=2)
    m.add_argument("--classes", type=int, default=2)
    m.add_argument("--seed", type=int, default=1)
    m.add_argument("--throw-word", default="the")
    s = sub.add_parser("score")
    s.add_argument("--module", required=True)
    s.add_argument("--vocab", required=True)
    s.add_argument("--max-length", type=int, default=128)
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--out", required=True)
    s.add_argument("shards", nargs="+")
    t = sub.add_parser("train")
    t.add_argument("--module", required=True)
    t.add_argument("--vocab", required=True)
    t.add_argument("--labels", required=True)
    t.add_argument("--max-length", type=int, default=128)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--epochs", type=int, default=1)
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--lr", type=float, default=5e-5)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("shards", nargs="+")
    e = sub.add_parser("embed")
    e.add_argument("--module", required=True)
    e.add_argument("--vocab", required=True)
    e.add_argument("--max-length", type=int, default=128)
    e.add_argument("--threshold", type=float, default=1e-5)
    e.add_argument("shards", nargs="+")
    c = sub.add_parser("compare")
    c.add_argument("--ref", required=True)
    c.add_argument("--threshold", type=float, default=1e-5)
    c.add_argument("--subset", action="store_true", help="the scores hold a subset of the reference's uids")
    c.add_argument("scores", nargs="+")
    a = p.parse_args()
    {"make": make, "score": score, "embed": embed, "train": train, "compare": compare}[a.cmd](a)


if __name__ == "__main__":
    main()
