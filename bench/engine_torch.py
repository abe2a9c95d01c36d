"""PyTorch side of `pcam bench engine`: the same reference network, input size, batch, optimizer,
thread count, precision (autocast alone, as pcam's side) and device, channels-last, timed the same
way. Request JSON on stdin, result JSON on stdout.
"""
import json
import sys
import time

import torch
from torch import nn


def reference_net():
    layers, channels = [], 3
    widths = [32, 64, 128, 256]
    for i, width in enumerate(widths):
        layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        if i < len(widths) - 1:
            layers.append(nn.MaxPool2d(2))
        channels = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, 1)]
    return nn.Sequential(*layers)


def main():
    request = json.load(sys.stdin)
    torch.set_num_threads(request["threads"])
    torch.manual_seed(0)
    batch, size = request["batchSize"], request["size"]
    device = request.get("device", "cpu")
    precision = request.get("precision", "fp32")
    net = reference_net().to(device, memory_format=torch.channels_last)
    x = torch.randn(batch, 3, size, size).to(device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (batch, 1)).float().to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.BCEWithLogitsLoss()
    autocast = torch.autocast(
        device_type="cpu" if device == "cpu" else "cuda",
        dtype=torch.float16 if precision == "fp16" else torch.bfloat16,
        enabled=precision != "fp32",
    )

    def forward():
        with autocast:
            return net(x)

    def settle():
        if device != "cpu":
            torch.cuda.synchronize(device)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(forward().float(), y)
        loss.backward()
        optimizer.step()

    net.train()
    for _ in range(request["warmup"]):
        train_step()
    settle()
    start = time.perf_counter()
    for _ in range(request["steps"]):
        train_step()
    settle()
    train_seconds = time.perf_counter() - start

    net.eval()
    with torch.no_grad():
        for _ in range(request["warmup"]):
            forward()
        settle()
        start = time.perf_counter()
        for _ in range(request["steps"]):
            forward()
        settle()
        infer_seconds = time.perf_counter() - start

    images = batch * request["steps"]
    json.dump(
        {
            "trainImgPerSec": images / train_seconds,
            "inferImgPerSec": images / infer_seconds,
            "torchVersion": torch.__version__,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
