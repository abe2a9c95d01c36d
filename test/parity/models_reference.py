"""Reference for test/parity/models.test.ts: builds a torchvision model, loads the weights pcam
wrote (a .safetensors file, parsed here independently of pcam, loaded strictly so every name must
match), and returns the eval-mode output, then a training-mode output with all gradients.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
from reference import decode, encode  # noqa: E402

NUMPY = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    body = data[8 + length :]
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        array = np.frombuffer(body[begin:end], dtype=NUMPY[entry["dtype"]]).reshape(entry["shape"])
        out[name] = torch.from_numpy(array.copy())
    return out


def main():
    request = json.load(sys.stdin)
    torch.set_num_threads(2)
    model = getattr(torchvision.models, request["arch"])(num_classes=request["numClasses"], **request.get("kwargs", {}))
    model.load_state_dict(read_safetensors(request["weights"]), strict=True)
    x = decode(request["x"])
    model.eval()
    with torch.no_grad():
        eval_out = model(x)
    model.train()
    train_out = model(x)
    train_out.backward(decode(request["gradOutput"]))
    reply = {
        "eval": encode(eval_out),
        "train": encode(train_out),
        "grads": {n: encode(p.grad) for n, p in model.named_parameters()},
        "state": {n: encode(t) for n, t in model.state_dict().items()},
    }
    json.dump(reply, sys.stdout)


if __name__ == "__main__":
    main()
