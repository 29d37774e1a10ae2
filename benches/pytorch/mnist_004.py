"""PyTorch 2.9 reference for 004's example: its CNN and hyperparameters on the same real MNIST digits
and the same split as modelrunner (SplitMix64-driven Fisher-Yates, then max_samples, then
train_split), scored on every digit not trained on. Prints JSON: {"seed": s, "test_accuracy": a}.

Usage: python mnist_004.py DIGITS_DIR SEED [SEED ...]"""
import json
import os
import sys

import torch
import torch.nn as nn

MASK = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        return self.next() % n


def shuffled(n, seed):
    rng, idx = SplitMix64(seed), list(range(n))
    for i in range(n - 1, 0, -1):
        j = rng.below(i + 1)
        idx[i], idx[j] = idx[j], idx[i]
    return idx


def load(digits_dir):
    images, labels = [], []
    for digit in range(10):
        with open(os.path.join(digits_dir, f"{digit}.json")) as f:
            data = json.load(f)["data"]
        for k in range(0, len(data), 784):
            images.append(data[k:k + 784])
            labels.append(digit)
    return torch.tensor(images, dtype=torch.float32).view(-1, 1, 28, 28), torch.tensor(labels)


def model():
    # 004's layer list; its final softmax is folded into the cross-entropy, as modelrunner does.
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(32, 64, 3, padding="same"), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))


def run(x, y, seed, epochs=5, batch=64, lr=0.1, max_samples=4096, train_split=0.9):
    torch.manual_seed(seed)
    order = shuffled(len(y), seed)
    used = min(max_samples, len(y))
    k = round(used * train_split)
    train, held_out = order[:k], order[k:]
    net, loss_fn = model(), nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    rng = SplitMix64(seed ^ 0x0005EED0F0E5)
    for _ in range(epochs):
        for i in range(len(train) - 1, 0, -1):
            j = rng.below(i + 1)
            train[i], train[j] = train[j], train[i]
        net.train()
        for s in range(0, len(train), batch):
            idx = torch.tensor(train[s:s + batch])
            opt.zero_grad()
            loss_fn(net(x[idx]), y[idx]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        idx = torch.tensor(held_out)
        return (net(x[idx]).argmax(1) == y[idx]).float().mean().item()


def main():
    torch.set_num_threads(int(os.environ.get("MR_THREADS", "2")))
    x, y = load(sys.argv[1])
    for seed in map(int, sys.argv[2:]):
        print(json.dumps({"seed": seed, "test_accuracy": run(x, y, seed)}), flush=True)


if __name__ == "__main__":
    main()
