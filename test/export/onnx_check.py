"""ONNX's own checker on files pcam exported: request {"paths": [...]} on stdin; replies with each
file's opset, input type and shape, and metadata. Uses Debian's python3-onnx (1.12, opset <= 17)."""
import json
import sys

import onnx

paths = json.load(sys.stdin)["paths"]
reply = []
for path in paths:
    onnx.checker.check_model(path, full_check=True)
    model = onnx.load(path)
    tensor_type = model.graph.input[0].type.tensor_type
    reply.append(
        {
            "path": path,
            "opset": model.opset_import[0].version,
            "elem_type": tensor_type.elem_type,
            "dims": [d.dim_param or d.dim_value for d in tensor_type.shape.dim],
            "metadata": {p.key: p.value for p in model.metadata_props},
        }
    )
print(json.dumps(reply))
