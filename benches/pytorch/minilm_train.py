"""PyTorch side of benches/bert_training: standard fine-tuning of all-MiniLM-L6-v2 as a classifier with
transformers (eager): mean pooling over real tokens, a linear head, cross-entropy, AdamW (weight decay
0.01) with the learning rate decaying linearly to 0 — what modelrunner's `text_finetune` does — on the
same texts in the same order, batch size, token limit and thread count. Examples come as JSON on stdin:
{"texts": [...], "labels": [...]} (labels 0..k-1). Prints one JSON line:
{"seconds": ..., "steps": ..., "tokens": ..., "loss_first": ..., "loss_last": ...} (tokens: real tokens, padding
not counted; seconds: the training loop, tokenization included).

Usage: python minilm_train.py SNAPSHOT_DIR BATCH THREADS MAX_LENGTH LEARNING_RATE < examples.json"""
import json
import sys
import time

import torch
from transformers import AutoModel, AutoTokenizer


def main():
    snapshot, batch, threads, max_length, lr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    data = json.load(sys.stdin)
    texts, labels = data["texts"], data["labels"]
    tokenizer = AutoTokenizer.from_pretrained(snapshot)
    encoder = AutoModel.from_pretrained(snapshot)
    head = torch.nn.Linear(encoder.config.hidden_size, max(labels) + 1)
    encoder.train()
    params = list(encoder.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    steps = (len(texts) + batch - 1) // batch
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 - step / steps)
    losses, tokens = [], 0
    start = time.perf_counter()
    for lo in range(0, len(texts), batch):
        encoded = tokenizer(texts[lo:lo + batch], padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        hidden = encoder(**encoded).last_hidden_state
        mask = encoded["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        loss = torch.nn.functional.cross_entropy(head(pooled), torch.tensor(labels[lo:lo + batch]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss))
        tokens += int(encoded["attention_mask"].sum())
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "steps": steps, "tokens": tokens, "loss_first": losses[0], "loss_last": losses[-1]}), flush=True)


if __name__ == "__main__":
    main()
