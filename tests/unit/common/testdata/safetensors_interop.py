"""Cross-checks lorafleet's safetensors reader/writer against Hugging Face's `safetensors` package.

Run by tests/unit/common/safetensors_test.cpp (needs `pip install safetensors numpy`):
  safetensors_interop.py read FILE OUT.json   describe FILE as the reference reads it
  safetensors_interop.py write FILE OUT.json  write FILE with the reference, and describe it
The description is {"metadata": {...}, "tensors": {name: {"dtype", "shape", "hex"}}}.
"""
import json
import sys

import numpy as np
from safetensors import deserialize, safe_open
from safetensors.numpy import save_file


def describe(path):
    with open(path, "rb") as f:
        raw = f.read()
    tensors = {}
    for name, info in deserialize(raw):
        tensors[name] = {"dtype": info["dtype"], "shape": list(info["shape"]),
                         "hex": bytes(info["data"]).hex()}
    # numpy holds only some dtypes; for those, the decoded arrays must match the raw bytes.
    numpy_dtypes = {"F64", "F32", "F16", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8",
                    "BOOL"}
    with safe_open(path, framework="np") as f:
        for name, t in tensors.items():
            if t["dtype"] in numpy_dtypes:
                array = f.get_tensor(name)
                assert array.tobytes().hex() == t["hex"], name
                assert list(array.shape) == t["shape"], name
    header_len = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + header_len])
    return {"metadata": header.get("__metadata__") or {}, "tensors": tensors}


def write(path):
    tensors = {}
    for i, dtype in enumerate([np.float64, np.float32, np.float16, np.int64, np.int32, np.int16,
                               np.int8, np.uint64, np.uint32, np.uint16, np.uint8]):
        name = np.dtype(dtype).name
        tensors[name + ".matrix"] = (np.arange(6) * 3 - i).astype(dtype).reshape(2, 3)
        tensors[name + ".scalar"] = np.array(i + 1, dtype=dtype)
        tensors[name + ".empty"] = np.zeros((0, 3), dtype=dtype)
    tensors["bool.vector"] = np.array([True, False, True])
    tensors["float32.special"] = np.array([np.inf, -np.inf, -0.0, 1e-45], dtype=np.float32)
    save_file(tensors, path, metadata={"format": "pt"})


def main():
    mode, path, out = sys.argv[1:4]
    if mode == "write":
        write(path)
    elif mode != "read":
        sys.exit("unknown mode " + mode)
    with open(out, "w") as f:
        json.dump(describe(path), f)


if __name__ == "__main__":
    main()
