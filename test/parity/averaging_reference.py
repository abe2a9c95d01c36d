"""Reference weight averaging for test/parity/averaging.test.ts: trains the reference network a few
SGD steps on the batches the test sends, with torch.optim.swa_utils.AveragedModel averaging after
every step (an EMA with TensorFlow's warm-up, a constant-decay EMA, and SWA's equal average), then
recomputes the SWA model's batch-norm statistics with update_bn over the same batches. Returns the
raw state dict, the EMAs' parameters and the SWA model's state dict.
"""
import json
import os
import sys

import torch
from torch.optim.swa_utils import AveragedModel, update_bn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
sys.path.insert(0, os.path.dirname(__file__))
from engine_torch import reference_net  # noqa: E402
from reference import decode, encode  # noqa: E402


def ema_avg(decay, warmup):
    # num_averaged is t for the t-th update after the first, copying, one.
    def avg(averaged, current, num_averaged):
        t = num_averaged.item()
        d = min(decay, (1 + t) / (10 + t)) if warmup else decay
        return d * averaged + (1 - d) * current

    return avg


def main():
    request = json.load(sys.stdin)
    torch.set_num_threads(1)
    net = reference_net()
    net.load_state_dict({k: decode(v) for k, v in request["state"].items()}, strict=True)
    net.train()
    optimizer = torch.optim.SGD(net.parameters(), lr=request["lr"], momentum=0.9)
    decay = request["decay"]
    ema_warmup = AveragedModel(net, avg_fn=ema_avg(decay, True))
    ema_constant = AveragedModel(net, avg_fn=ema_avg(decay, False))
    swa = AveragedModel(net)
    # The EMAs start from the weights before training; SWA averages the weights after each step.
    ema_warmup.update_parameters(net)
    ema_constant.update_parameters(net)
    xs = [decode(x) for x in request["xs"]]
    ys = [decode(y) for y in request["ys"]]
    for x, y in zip(xs, ys):
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.binary_cross_entropy_with_logits(net(x), y).backward()
        optimizer.step()
        for averaged in (ema_warmup, ema_constant, swa):
            averaged.update_parameters(net)
    update_bn(xs, swa)
    params = lambda m: {k: encode(v.detach()) for k, v in m.module.named_parameters()}
    json.dump(
        {
            "raw": {k: encode(v) for k, v in net.state_dict().items()},
            "emaWarmup": params(ema_warmup),
            "emaConstant": params(ema_constant),
            "swa": {k: encode(v) for k, v in swa.module.state_dict().items()},
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
