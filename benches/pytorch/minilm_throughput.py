"""PyTorch side of benches/text_throughput: all-MiniLM-L6-v2 embedding sentences with transformers
(eager, no_grad, mean pooling and unit length as sentence-transformers does), batches of BATCH texts,
THREADS intra-op threads. Texts come as a JSON list on stdin; prints one JSON line per round:
{"seconds": ..., "texts": ..., "tokens": ...} (tokens: real tokens, padding not counted).

Usage: python minilm_throughput.py SNAPSHOT_DIR BATCH THREADS ROUNDS < texts.json"""
import json
import sys
import time

import torch
from transformers import AutoModel, AutoTokenizer


def main():
    snapshot, batch, threads, rounds = sys.argv[1], *map(int, sys.argv[2:5])
    torch.set_num_threads(threads)
    texts = json.load(sys.stdin)
    tokenizer = AutoTokenizer.from_pretrained(snapshot)
    model = AutoModel.from_pretrained(snapshot).eval()

    def embed(chunk):
        encoded = tokenizer(chunk, padding=True, truncation=True, max_length=256, return_tensors="pt")
        hidden = model(**encoded).last_hidden_state
        mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        torch.nn.functional.normalize(mean, p=2, dim=1)
        return int(encoded["attention_mask"].sum())

    with torch.no_grad():
        embed(texts[:batch])  # warm-up
        for _ in range(rounds):
            start, tokens = time.perf_counter(), 0
            for lo in range(0, len(texts), batch):
                tokens += embed(texts[lo:lo + batch])
            print(json.dumps({"seconds": time.perf_counter() - start, "texts": len(texts), "tokens": tokens}), flush=True)


if __name__ == "__main__":
    main()
