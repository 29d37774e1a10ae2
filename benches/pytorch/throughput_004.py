"""PyTorch 2.9 eager side of benches/neural_throughput: 004's CNN trained with SGD on batches of real
MNIST digits; prints samples/s over STEPS steps after a warm-up, once per round, as JSON lines.

Usage: python throughput_004.py DIGITS_DIR STEPS ROUNDS BATCH THREADS [channels_last]

With `channels_last` the model and its batches use PyTorch's channels-last memory format (the layout
modelrunner's convolutions run in), which a PyTorch user opts into; by default both are NCHW."""
import json
import sys
import time

import torch
import torch.nn as nn

from mnist_004 import load, model


def main():
    digits, steps, rounds, batch, threads = sys.argv[1], *map(int, sys.argv[2:6])
    torch.set_num_threads(threads)
    channels_last = sys.argv[6:7] == ["channels_last"]
    torch.manual_seed(0)
    x, y = load(digits)
    net, loss_fn = model(), nn.CrossEntropyLoss()
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    net.train()

    def step(i):
        lo = (i * batch) % (len(y) - batch)
        opt.zero_grad()
        inputs = x[lo:lo + batch]
        if channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        loss = loss_fn(net(inputs), y[lo:lo + batch])
        loss.backward()
        opt.step()
        return loss.item()

    for i in range(5):
        step(i)
    for _ in range(rounds):
        start = time.perf_counter()
        for i in range(steps):
            step(i)
        print(json.dumps({"samples_per_s": steps * batch / (time.perf_counter() - start)}), flush=True)


if __name__ == "__main__":
    main()
