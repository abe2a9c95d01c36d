"""PyTorch side of `pcam bench recipe`: the same training recipe as `pcam train`, written as a plain
PyTorch script, so a user can compare the whole run (data, augmentation, every stage, validation)
and not only a step.

The request (JSON on stdin) carries what pcam used: the store, the architecture, the initial weights
(a safetensors file pcam wrote after loading the pretrained backbone, so both start from the same
numbers), which layer group each parameter belongs to, the stages (frozen / unfrozen one-cycle fits
with discriminative rates), batch size, augmentation, normalisation and precision. The reply (JSON
on stdout) gives each epoch's training and validation seconds, images/s, loss and valid ROC AUC.

PyTorch gets its best settings: channels-last, the precision and device pcam uses (autocast in
bfloat16 or float16, the latter with torch.cuda.amp.GradScaler), the threads pcam uses, and on a
GPU pinned host memory, non-blocking copies and cuDNN autotuning.
"""
import json
import math
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

SAFETENSORS_DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


def read_safetensors(path):
    """The file's tensors as views of a memory map, not copies: reading ~45 MB into the heap and
    freeing it left glibc's heap (with pcam's allocator settings) in a state where every later
    optimizer step ran several times slower (resnet18: 0.2 s against 0.02 s a step), which made
    PyTorch look slow. load_state_dict copies them into the model."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
    raw = np.memmap(path, dtype=np.uint8, mode="c", offset=8 + length)
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        array = np.frombuffer(raw[start:end], dtype=SAFETENSORS_DTYPES[entry["dtype"]])
        tensors[name] = torch.from_numpy(array.reshape(entry["shape"]))
    return tensors


class SameConv2d(nn.Conv2d):
    """TensorFlow's "same" padding (the extra pixel after), as the Keras MobileNet weights expect."""

    def forward(self, x):
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride)):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        if pads[0] == pads[1] and pads[2] == pads[3]:  # symmetric: the convolution pads, no copy
            return F.conv2d(x, self.weight, self.bias, self.stride, (pads[2], pads[0]), 1, self.groups)
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, 1, self.groups)


def relu6(x):
    """Not F.relu6: this PyTorch (1.13) has no bfloat16 backward for hardtanh, and clamp(0, 6)'s is
    slow; relu then clamp is the fast way, as pcam takes it."""
    return x.relu().clamp(max=6)


class ReLU6(nn.Module):
    def forward(self, x):
        return relu6(x)


class DepthwiseSeparable(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.dw = SameConv2d(cin, cin, 3, stride, groups=cin, bias=False)
        self.dw_bn = nn.BatchNorm2d(cin, eps=1e-3)
        self.pw = nn.Conv2d(cin, cout, 1, bias=False)
        self.pw_bn = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x):
        x = relu6(self.dw_bn(self.dw(x)))
        return relu6(self.pw_bn(self.pw(x)))


class MobileNetV1Body(nn.Module):
    BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [
        (1024, 2),
        (1024, 1),
    ]

    def __init__(self, alpha):
        super().__init__()
        width = lambda c: round(c * alpha)  # noqa: E731
        self.stem = nn.Sequential(
            SameConv2d(3, width(32), 3, 2, bias=False), nn.BatchNorm2d(width(32), eps=1e-3), ReLU6()
        )
        blocks, channels = [], width(32)
        for out, stride in self.BLOCKS:
            blocks.append(DepthwiseSeparable(channels, width(out), stride))
            channels = width(out)
        self.features = nn.Sequential(*blocks)
        self.channels = channels

    def forward(self, x):
        return self.features(self.stem(x))


class ResNetBody(nn.Module):
    def __init__(self, arch):
        super().__init__()
        net = getattr(torchvision.models, arch)()
        for name in ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]:
            setattr(self, name, getattr(net, name))
        self.channels = net.fc.in_features

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class ConcatPool(nn.Module):
    def forward(self, x):
        return torch.cat([F.adaptive_max_pool2d(x, 1), F.adaptive_avg_pool2d(x, 1)], 1)


class Classifier(nn.Module):
    def __init__(self, body, head):
        super().__init__()
        self.body = body
        c = body.channels
        if head == "concat":  # fastai's head
            self.head = nn.Sequential(
                ConcatPool(), nn.Flatten(), nn.BatchNorm1d(2 * c), nn.Dropout(0.25), nn.Linear(2 * c, 512),
                nn.ReLU(), nn.BatchNorm1d(512), nn.Dropout(0.5), nn.Linear(512, 1),
            )
        else:
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 1))

    def forward(self, x):
        return self.head(self.body(x))


def build_model(request):
    arch = request["arch"]
    body = MobileNetV1Body(request["alpha"]) if arch == "mobilenet_v1" else ResNetBody(arch)
    model = Classifier(body, request["head"])
    model.load_state_dict(read_safetensors(request["weights"]), strict=True)
    return model.to(memory_format=torch.channels_last)


def one_cycle(pct, div=25.0, div_final=1e5, pct_start=0.25, moms=(0.95, 0.85, 0.95)):
    """fastai's one-cycle: cosine warm-up to the peak, cosine annealing to peak / div_final."""
    cos = lambda a, b, p: b + (a - b) / 2 * (math.cos(math.pi * p) + 1)  # noqa: E731
    if pct < pct_start:
        p = pct / pct_start
        return cos(1 / div, 1, p), cos(moms[0], moms[1], p)
    p = (pct - pct_start) / (1 - pct_start)
    return cos(1, 1 / div_final, p), cos(moms[1], moms[2], p)


def spread(lr, groups):
    if not isinstance(lr, list):
        return [lr] * groups
    low, high = lr
    step = (high / low) ** (1 / (groups - 1))
    return [low * step**i for i in range(groups)]


def auc(scores, labels):
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):  # average ranks over ties
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = labels == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


class Data:
    def __init__(self, request):
        store = request["store"]
        meta = json.load(open(f"{store}/meta.json"))
        n, h, w = meta["count"], meta["height"], meta["width"]
        self.images = np.memmap(f"{store}/images.u8", dtype=np.uint8, mode="r", shape=(n, h, w, 3))
        self.labels = np.fromfile(f"{store}/labels.u8", dtype=np.uint8)
        self.train = np.array([i for i, s in enumerate(meta["splits"]) if s == "train"])
        self.valid = np.array([i for i, s in enumerate(meta["splits"]) if s == "valid"])
        norm = request["normalization"]
        self.scale = (1 / (255 * torch.tensor(norm["std"]))).view(1, 3, 1, 1)
        self.shift = (-torch.tensor(norm["mean"]) / torch.tensor(norm["std"])).view(1, 3, 1, 1)
        self.size = request["size"]
        self.augment = request["augment"] or {}
        self.batch = request["batchSize"]
        self.rng = np.random.default_rng(request["seed"])

    def _augment(self, x):
        n, h, w, _ = x.shape
        if self.augment.get("dihedral"):
            ks = self.rng.integers(0, 8, n)
            out = np.empty_like(x)
            for k in range(8):
                members = np.nonzero(ks == k)[0]
                if len(members):
                    part = x[members][:, :, ::-1] if k >= 4 else x[members]
                    out[members] = np.rot90(part, k % 4, axes=(1, 2))
            x = out
        pad = self.augment.get("cropPadding", 0)
        if pad:
            padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
            oy = self.rng.integers(0, 2 * pad + 1, n)[:, None, None]
            ox = self.rng.integers(0, 2 * pad + 1, n)[:, None, None]
            rows = oy + np.arange(h)[None, :, None]
            cols = ox + np.arange(w)[None, None, :]
            x = padded[np.arange(n)[:, None, None], rows, cols]
        return x

    def batches(self, train, device="cpu"):
        indices = self.rng.permutation(self.train) if train else self.valid
        count = len(indices) // self.batch * self.batch if train else len(indices)
        for start in range(0, count, self.batch):
            idx = indices[start : start + self.batch]
            x = self.images[np.sort(idx)] if train else self.images[idx]
            y = self.labels[np.sort(idx)] if train else self.labels[idx]
            if train:
                x = self._augment(x)
            x = torch.from_numpy(np.ascontiguousarray(x))
            if device != "cpu":
                x = x.pin_memory().to(device, non_blocking=True)
            x = x.permute(0, 3, 1, 2).float()
            if self.size != x.shape[-1]:
                x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False)
            x = (x * self.scale.to(x.device) + self.shift.to(x.device)).contiguous(memory_format=torch.channels_last)
            yield x, torch.from_numpy(y.astype(np.float32)).to(device)


def main():
    request = json.load(sys.stdin)
    torch.set_num_threads(request["threads"])
    torch.manual_seed(request["seed"])
    began = time.perf_counter()
    data = Data(request)
    device = request.get("device", "cpu")
    model = build_model(request)
    if request.get("check"):  # the initial model's logits on the first valid patches, for tests
        model.eval()
        with torch.no_grad():
            x, _ = next(data.batches(False))
            json.dump({"logits": model(x[: request["check"]]).view(-1).tolist()}, sys.stdout)
        return
    params = dict(model.named_parameters())
    n_groups = max(request["groups"].values()) + 1
    groups = [
        {"params": [params[name] for name, g in request["groups"].items() if g == k]} for k in range(n_groups)
    ]
    optimizer = torch.optim.AdamW(groups, lr=1e-3, weight_decay=request["wd"])
    norm_params = {
        name for name, m in model.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
        for name in [f"{name}.weight", f"{name}.bias"]
    }
    head = {name for name, g in request["groups"].items() if g == n_groups - 1}
    precision = request["precision"]
    autocast = {
        "device_type": "cpu" if device == "cpu" else "cuda",
        "dtype": torch.float16 if precision == "fp16" else torch.bfloat16,
        "enabled": precision != "fp32",
    }
    if device != "cpu":
        model.to(device)
        torch.backends.cudnn.benchmark = True
    scaler = torch.cuda.amp.GradScaler(enabled=precision == "fp16")
    epochs_out = []
    for stage in request["stages"]:
        for name, p in params.items():
            trainable = not stage["frozen"] or name in head or (request["trainBn"] and name in norm_params)
            p.requires_grad_(trainable)
        peaks = spread(stage["lr"], n_groups)
        n_iter = len(data.train) // data.batch
        for epoch in range(stage["epochs"]):
            model.train()
            start, loss_sum, seen = time.perf_counter(), 0.0, 0
            for it, (x, y) in enumerate(data.batches(True, device)):
                scale, mom = one_cycle((epoch * n_iter + it) / (stage["epochs"] * n_iter))
                for group, peak in zip(optimizer.param_groups, peaks):
                    group["lr"] = peak * scale
                    group["betas"] = (mom, group["betas"][1])
                optimizer.zero_grad(set_to_none=True)
                with torch.autocast(**autocast):
                    logits = model(x)
                loss = F.binary_cross_entropy_with_logits(logits.float().view(-1), y)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                loss_sum += loss.item() * len(y)
                seen += len(y)
            train_seconds = time.perf_counter() - start
            valid_start = time.perf_counter()
            model.eval()
            probabilities, labels = [], []
            with torch.no_grad(), torch.autocast(**autocast):
                for x, y in data.batches(False, device):
                    probabilities.append(torch.sigmoid(model(x).float().view(-1)).cpu().numpy())
                    labels.append(y.cpu().numpy())
            valid_seconds = time.perf_counter() - valid_start
            epochs_out.append({
                "stage": stage["stage"],
                "epoch": epoch + 1,
                "trainSeconds": train_seconds,
                "validSeconds": valid_seconds,
                "imagesPerSec": seen / train_seconds,
                "trainLoss": loss_sum / seen,
                "auc": auc(np.concatenate(probabilities), np.concatenate(labels)),
            })
            print(json.dumps(epochs_out[-1]), file=sys.stderr, flush=True)
    json.dump({"seconds": time.perf_counter() - began, "epochs": epochs_out}, sys.stdout)


if __name__ == "__main__":
    main()
