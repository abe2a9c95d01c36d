"""Independent reference for pcam's parity tests: evaluates PyTorch expressions on inputs sent by
the TypeScript tests and returns outputs and gradients.

Protocol: one JSON request on stdin, one JSON reply on stdout.
  request: {"threads": n, "device": "cpu" | "cuda:0", "cases": [{"expr": "F.conv2d(x, w, stride=2)",
             "inputs": {"x": tensor, ...}, "grad": ["x", "w"], "gradOutput": tensor | null}]}
  tensor:  {"shape": [...], "dtype": "float32" | "int64" | ..., "data": base64 of little-endian values}
  reply:   {"results": [{"outputs": [tensor, ...], "grads": {"x": tensor, ...}} | {"error": str}]}
An expression may evaluate to a tensor or a tuple/list of tensors; in-place updates of inputs
(batch norm running statistics) come back as "inputsAfter".
"""
import base64
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {
    "float32": (torch.float32, np.float32),
    "float64": (torch.float64, np.float64),
    "int64": (torch.int64, np.int64),
    "int32": (torch.int32, np.int32),
    "uint8": (torch.uint8, np.uint8),
    "bool": (torch.bool, np.bool_),
}


def decode(spec):
    torch_dtype, np_dtype = DTYPES[spec["dtype"]]
    array = np.frombuffer(base64.b64decode(spec["data"]), dtype=np_dtype).copy()
    return torch.from_numpy(array.reshape(spec["shape"])).to(torch_dtype)


def encode(tensor):
    tensor = tensor.detach().cpu().contiguous()
    if tensor.dtype in (torch.float16, torch.bfloat16):
        tensor = tensor.float()
    name = next(k for k, (t, _) in DTYPES.items() if t == tensor.dtype)
    data = base64.b64encode(tensor.numpy().tobytes()).decode("ascii")
    return {"shape": list(tensor.shape), "dtype": name, "data": data}


def run_case(case, device):
    inputs = {name: decode(spec).to(device) for name, spec in case["inputs"].items()}
    for name in case.get("grad", []):
        inputs[name].requires_grad_(True)
    scope = {"torch": torch, "F": F, **inputs}
    result = eval(case["expr"], scope)  # the expressions come from pcam's own test files
    outputs = list(result) if isinstance(result, (tuple, list)) else [result]
    reply = {"outputs": [encode(o) for o in outputs]}
    if case.get("grad"):
        grad_output = case.get("gradOutput")
        seed = decode(grad_output).to(device) if grad_output else torch.ones_like(outputs[0])
        outputs[0].backward(seed)
        reply["grads"] = {name: encode(inputs[name].grad) for name in case["grad"]}
    reply["inputsAfter"] = {name: encode(t) for name, t in inputs.items()}
    return reply


def main():
    request = json.load(sys.stdin)
    torch.set_num_threads(request.get("threads", 1))
    device = request.get("device", "cpu")
    results = []
    for case in request["cases"]:
        try:
            results.append(run_case(case, device))
        except Exception as error:  # reported per case, so one bad case names itself
            results.append({"error": f"{type(error).__name__}: {error}"})
    json.dump({"results": results}, sys.stdout)


if __name__ == "__main__":
    main()
