"""Runs the export guide's Python block (docs/export.md, the one after the "tested by
test/export/onnx.test.ts" marker)
on an exported file and real patches, so the lines a user copies are the lines that are tested.
Request on stdin: {"readme" (the guide's path), "path", "patches" (a raw uint8 file), "shape"}; replies with the
block's `p` (tumour probabilities) and the keys it left unloaded."""
import contextlib
import io
import json
import re
import sys

import numpy as np

MARKER = "<!-- tested by test/export/onnx.test.ts -->"

request = json.load(sys.stdin)
readme = open(request["readme"], encoding="utf-8").read()
after = readme.split(MARKER, 1)[1]
block = re.search(r"```python\n(.*?)```", after, re.S).group(1)
# The block's two placeholders become this request's file and patches.
block, paths = re.subn(r"^path = .*$", "path = REQUEST_PATH", block, flags=re.M)
block, patches = re.subn(r"^patches = .*$", "patches = REQUEST_PATCHES", block, flags=re.M)
assert paths == 1 and patches == 1, "the guide's block must assign path and patches once each"

scope = {
    "REQUEST_PATH": request["path"],
    "REQUEST_PATCHES": np.fromfile(request["patches"], np.uint8).reshape(request["shape"]),
}
with contextlib.redirect_stdout(io.StringIO()) as printed:
    exec(compile(block, "docs/export.md", "exec"), scope)
print(
    json.dumps(
        {
            "p": [float(v) for v in scope["p"]],
            "missing": list(scope["result"].missing_keys),
            "printed": printed.getvalue(),
        }
    )
)
