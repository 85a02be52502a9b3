#!/usr/bin/env python3
"""The GE2E speaker encoder's weights, as crates/voiceprint loads them.

Resemblyzer 0.1.4 (Apache-2.0) ships them as `resemblyzer/pretrained.pt`, a legacy (non-zip)
torch pickle. This fetches that wheel from PyPI (pinned version and sha256; nothing is
committed), reads the pickle with the standard library alone (no torch), and writes the LSTM
and linear weights as safetensors (float32, little-endian), with the wheel's digest in its
metadata.

usage: ge2e_weights.py OUT.safetensors [--wheel PATH]
"""

import argparse
import hashlib
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections import OrderedDict

VERSION = "0.1.4"
WHEEL = f"Resemblyzer-{VERSION}-py3-none-any.whl"
SHA256 = "8f12eb2f1a9982d32e8db7856de754709b59c93a77bcf0ff536584b619a9dd1f"
MEMBER = "resemblyzer/pretrained.pt"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
# What the Rust encoder needs; the GE2E training-only parameters (similarity_*) are left out.
WANTED = [f"lstm.{kind}_l{layer}" for layer in range(3)
          for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")] + ["linear.weight", "linear.bias"]
SIZES = {"FloatStorage": ("F32", 4)}


class Storage:
    def __init__(self, kind, key, numel):
        self.kind, self.key, self.numel = kind, key, numel
        self.data = None


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.storage, self.offset, self.size, self.stride = storage, offset, tuple(size), tuple(stride)

    def contiguous_bytes(self):
        expected, acc = [], 1
        for dim in reversed(self.size):
            expected.insert(0, acc)
            acc *= dim
        if tuple(expected) != self.stride and acc > 1:
            raise ValueError(f"a non-contiguous tensor {self.size} {self.stride}")
        width = SIZES[self.storage.kind][1]
        start = self.offset * width
        return self.storage.data[start:start + acc * width]


def rebuild_tensor_v2(storage, offset, size, stride, *_):
    return Tensor(storage, offset, size, stride)


class StorageType:
    def __init__(self, name):
        self.name = name


class Unpickler(pickle.Unpickler):
    def __init__(self, f, storages):
        super().__init__(f)
        self.storages = storages

    def find_class(self, module, name):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return rebuild_tensor_v2
        if module == "torch" and name.endswith("Storage"):
            return StorageType(name)
        if (module, name) == ("collections", "OrderedDict"):
            return OrderedDict
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid):
        # ('storage', storage_type, root_key, location, numel, view_metadata)
        if pid[0] != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id {pid[0]!r}")
        kind, key, numel = pid[1].name, pid[2], pid[4]
        if kind not in SIZES:
            raise pickle.UnpicklingError(f"unsupported storage {kind}")
        if key not in self.storages:
            self.storages[key] = Storage(kind, key, numel)
        return self.storages[key]


def read_legacy(f):
    """torch.load's legacy path: magic, protocol, system info, the object, the storage keys,
    then each storage as an int64 element count and its raw bytes."""
    def plain():
        return pickle.Unpickler(f).load()
    if plain() != LEGACY_MAGIC:
        raise ValueError("not a legacy torch file")
    if plain() != 1001:
        raise ValueError("unsupported protocol")
    info = plain()
    if not info.get("little_endian", True):
        raise ValueError("a big-endian file")
    storages = {}
    obj = Unpickler(f, storages).load()
    for key in plain():
        s = storages[key]
        (numel,) = struct.unpack("<q", f.read(8))
        if numel != s.numel:
            raise ValueError(f"storage {key}: {numel} elements, {s.numel} expected")
        s.data = f.read(numel * SIZES[s.kind][1])
    return obj


def write_safetensors(path, tensors, metadata):
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name, t in tensors.items():
        data = t.contiguous_bytes()
        header[name] = {"dtype": SIZES[t.storage.kind][0], "shape": list(t.size),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as out:
        out.write(struct.pack("<Q", len(raw)))
        out.write(raw)
        for b in blobs:
            out.write(b)
    os.replace(tmp, path)


def fetch_wheel(dest):
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
                    "--no-deps", f"resemblyzer=={VERSION}", "-d", dest], check=True)
    return os.path.join(dest, WHEEL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--wheel", help="an already downloaded wheel (its sha256 is still checked)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or fetch_wheel(tmp)
        raw = open(wheel, "rb").read()
        digest = hashlib.sha256(raw).hexdigest()
        if digest != SHA256:
            sys.exit(f"{wheel}: sha256 {digest}, expected {SHA256}")
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            checkpoint = read_legacy(io.BytesIO(z.read(MEMBER)))
    state = checkpoint["model_state"]
    missing = [k for k in WANTED if k not in state]
    if missing:
        sys.exit(f"the checkpoint lacks {missing}")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    write_safetensors(args.out, {k: state[k] for k in WANTED},
                      {"source": f"{WHEEL} {MEMBER}", "wheel_sha256": SHA256, "license": "Apache-2.0"})
    print(f"{args.out}: {len(WANTED)} tensors from {WHEEL}")


if __name__ == "__main__":
    main()
