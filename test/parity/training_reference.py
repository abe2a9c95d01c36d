"""Reference training run for test/parity/training.test.ts and test/gpu/training.test.ts: loads
pcam's state dict into the same network built with torch.nn (strict, so the names must match), then
trains a few steps with the optimizer and per-step hyper-parameters the test sends, and returns
losses, first-step gradients and the final state dict. Optionally on a device ("device"), with the
forward pass under autocast ("autocast": "bf16" or "fp16") and a GradScaler ("scaler": its
settings; then the scale before each step and whether the step was skipped come back too).
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
sys.path.insert(0, os.path.dirname(__file__))
from engine_torch import reference_net  # noqa: E402
from reference import decode, encode  # noqa: E402


def make_optimizer(kind, groups):
    if kind.startswith("sgd"):
        return torch.optim.SGD(groups, lr=0.1)
    if kind == "adam":
        return torch.optim.Adam(groups)
    if kind == "adamw":
        return torch.optim.AdamW(groups)
    raise ValueError(kind)


def main():
    request = json.load(sys.stdin)
    torch.set_num_threads(1)
    device = request.get("device", "cpu")
    net = reference_net()
    net.load_state_dict({k: decode(v) for k, v in request["state"].items()}, strict=True)
    net = net.to(device)
    net.train()
    amp = request.get("autocast")
    autocast = torch.autocast(
        device_type="cpu" if device == "cpu" else "cuda",
        dtype=torch.float16 if amp == "fp16" else torch.bfloat16,
        enabled=amp is not None,
    )
    settings = request.get("scaler")
    scaler = torch.cuda.amp.GradScaler(**settings) if settings else None
    scales, skipped = [], []
    params = dict(net.named_parameters())
    groups = [{"params": [params[n] for n in g["names"]], **g["options"]} for g in request["groups"]]
    optimizer = make_optimizer(request["kind"], groups)
    x, y = decode(request["x"]).to(device), decode(request["y"]).to(device)
    losses, first_grads = [], {}
    for step, hyper in enumerate(request["schedule"]):
        for group, values in zip(optimizer.param_groups, hyper):
            for key, value in values.items():
                group[key] = tuple(value) if key == "betas" else value
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            logits = net(x)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), y)
        if scaler:
            scales.append(scaler.get_scale())
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            finite = all(torch.isfinite(p.grad).all() for p in params.values() if p.grad is not None)
            skipped.append(not bool(finite))
        else:
            loss.backward()
        if step == 0:
            first_grads = {n: encode(p.grad.cpu()) for n, p in params.items()}
        if scaler:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        losses.append(loss.item())
    state = {k: encode(v.cpu()) for k, v in net.state_dict().items()}
    reply = {"losses": losses, "grads": first_grads, "state": state}
    if scaler:
        reply.update(scales=scales, skipped=skipped)
    json.dump(reply, sys.stdout)


if __name__ == "__main__":
    main()
