"""Reference sentence embeddings: all-MiniLM-L6-v2 run by Hugging Face transformers on PyTorch, the way
sentence-transformers runs it (mean over the real tokens, then unit length; at most 256 tokens).

    python minilm_embed.py SNAPSHOT_DIR < texts.json   # a JSON list of strings in, a JSON list of vectors out
"""

import json
import sys

import torch
from transformers import AutoModel, AutoTokenizer


def main() -> None:
    snapshot = sys.argv[1]
    texts = json.load(sys.stdin)
    tokenizer = AutoTokenizer.from_pretrained(snapshot)
    model = AutoModel.from_pretrained(snapshot).eval()
    with torch.no_grad():
        batch = tokenizer(texts, padding=True, truncation=True, max_length=256, return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        unit = torch.nn.functional.normalize(mean, p=2, dim=1)
    json.dump(unit.tolist(), sys.stdout)


if __name__ == "__main__":
    main()
