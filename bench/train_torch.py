"""PyTorch side of `pcam bench train`: torchvision's resnet18, resnet34 or resnet50, or the MobileNet
v1 of the fast recipe (bench/recipe_torch.py), with one output, on the same patch store,
channels-last, AdamW, batch gathered from the memory-mapped images.u8 with random flips and resized
bilinearly to the requested size, so data handling is part of the time as it is for pcam; in
pcam's precision (autocast bf16, or fp16 with a GradScaler) and on its device (a GPU gets pinned
memory, non-blocking copies, the flips and the resize on the GPU, and cuDNN autotuning). Request
JSON on stdin; result JSON on stdout, with the wall-clock window of the timed steps (ms since the
epoch) for pcam's GPU utilisation samples.
"""
import json
import sys
import time

import numpy as np
import torch
import torchvision

from recipe_torch import Classifier, MobileNetV1Body


def main():
    request = json.load(sys.stdin)
    torch.set_num_threads(request["threads"])
    torch.manual_seed(0)
    meta = json.load(open(f"{request['store']}/meta.json"))
    n, h, w = meta["count"], meta["height"], meta["width"]
    images = np.memmap(f"{request['store']}/images.u8", dtype=np.uint8, mode="r", shape=(n, h, w, 3))
    labels = np.fromfile(f"{request['store']}/labels.u8", dtype=np.uint8)
    train = np.array([i for i, s in enumerate(meta["splits"]) if s == "train"])
    device = request.get("device", "cpu")
    precision = request["precision"]
    mean = torch.tensor(meta["mean"]).view(1, 3, 1, 1).to(device)
    std = torch.tensor(meta["std"]).view(1, 3, 1, 1).to(device)
    if request["arch"] == "mobilenet_v1":
        model = Classifier(MobileNetV1Body(request["alpha"]), "linear")
    else:
        model = getattr(torchvision.models, request["arch"])(num_classes=1)
    model = model.to(device, memory_format=torch.channels_last)
    if device != "cpu":
        torch.backends.cudnn.benchmark = True
    autocast = {
        "device_type": "cpu" if device == "cpu" else "cuda",
        "dtype": torch.float16 if precision == "fp16" else torch.bfloat16,
        "enabled": precision != "fp32",
    }
    scaler = torch.cuda.amp.GradScaler(enabled=precision == "fp16")
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    batch = request["batchSize"]

    def step():
        idx = np.sort(rng.choice(train, batch, replace=False))
        x = torch.from_numpy(images[idx])
        if device != "cpu":
            x = x.pin_memory().to(device, non_blocking=True)
        x = x.permute(0, 3, 1, 2).float().div_(255)
        if rng.random() < 0.5:
            x = x.flip(3)
        if rng.random() < 0.5:
            x = x.flip(2)
        if request["size"] != h:
            x = torch.nn.functional.interpolate(x, size=request["size"], mode="bilinear", align_corners=False)
        x = ((x - mean) / std).contiguous(memory_format=torch.channels_last)
        y = torch.from_numpy(labels[idx].astype(np.float32)).to(device)
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(**autocast):
            logits = model(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float().view(-1), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    model.train()
    for _ in range(request["warmup"]):
        step()
    if device != "cpu":
        torch.cuda.synchronize()
    window_start = time.time() * 1000
    start = time.perf_counter()
    for _ in range(request["steps"]):
        step()
    if device != "cpu":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    window = [window_start, time.time() * 1000]
    json.dump({"trainImgPerSec": batch * request["steps"] / seconds, "window": window}, sys.stdout)


if __name__ == "__main__":
    main()
