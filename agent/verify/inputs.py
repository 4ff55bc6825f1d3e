"""Verification inputs, generated on the trusted side from a spec and a seed, and how they travel.

`make_arrays` is deterministic numpy: the same (size, seed, index) gives the same arrays in any
process. `pack` turns a list of inputs into (descriptors, arrays) for a session call and `unpack`
turns them back on the other side; an input may be an array or a plain Python value.
"""
from __future__ import annotations

import numpy as np


MAX_INPUT_ELEMENTS = 2**26  # per input array: the trusted side allocates what a side asks for
# An argument that takes a model (`predict(model, x)`, `count_parameters(net)`): a Linear layer of this
# many features, with fixed weights (stand_in_weights); each side builds its own framework's layer.
STAND_IN = "__msagent_module__"


def stand_in(features: int) -> dict:
    """The input descriptor of a stand-in model: a Linear(features, features)."""
    return {"value": {STAND_IN: "linear", "features": int(features)}}


def is_stand_in(value) -> bool:
    return isinstance(value, dict) and value.get(STAND_IN) == "linear" and isinstance(value.get("features"), int) \
        and 0 < value["features"] <= 64


def stand_in_weights(features: int) -> tuple[np.ndarray, np.ndarray]:
    """The stand-in Linear's (weight, bias): fixed draws, the same in every process."""
    rng = np.random.default_rng([7, features])
    weight = (rng.standard_normal((features, features)) / np.sqrt(features)).astype(np.float32)
    return weight, (0.1 * rng.standard_normal(features)).astype(np.float32)


def check_sizes(sizes) -> None:
    """The torch side chose the input shapes; the trusted process builds the arrays: ValueError for absurd
    ones (a negative or non-integer dimension, more than MAX_INPUT_ELEMENTS, a dtype that is no name)."""
    try:
        for size in sizes:
            for inp in size:
                if "value" in inp:
                    continue
                n = 1
                for d in inp["shape"]:
                    if not isinstance(d, int) or d < 0:
                        raise ValueError(f"bad dimension {d!r}")
                    n *= d
                if n > MAX_INPUT_ELEMENTS or not str(inp["dtype"]).replace("_", "").isalnum():
                    raise ValueError(f"input {inp['shape']} {inp['dtype']} refused")
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed input description: {exc!r}") from None


def make_arrays(size: list[dict], seed: int, size_idx: int) -> list:
    """The numpy inputs of one trial; both frameworks get copies of the same arrays."""
    rng = np.random.default_rng([seed, size_idx])
    out = []
    for inp in size:
        if "value" in inp:  # a tuple where the spec says so (`x_size` compared with a tuple the module keeps)
            out.append(tuple(inp["value"]) if inp.get("tuple") and isinstance(inp["value"], list) else inp["value"])
        elif inp["dtype"].startswith(("int", "uint")):
            high = inp.get("high", 10)  # a list: one bound per position of the last axis (a column's categories)
            if isinstance(high, list):
                high = np.asarray(high) if inp["shape"] and len(high) == inp["shape"][-1] else max(high)
            out.append(rng.integers(inp.get("low", 0), high, size=inp["shape"]).astype(inp["dtype"]))
        elif inp["dtype"] == "bool":
            out.append(rng.random(inp["shape"]) > 0.5)
        elif "low" in inp or "high" in inp:  # a float range: probabilities, coordinates, ...
            low, high = float(inp.get("low", 0.0)), float(inp.get("high", 1.0))
            out.append(rng.uniform(low, high, inp["shape"]).astype(inp["dtype"]))
        elif "mean" in inp or "std" in inp:  # a normal of another centre or scale (`1 + 0.01 * randn`)
            mean, std = float(inp.get("mean", 0.0)), float(inp.get("std", 1.0))
            out.append((rng.standard_normal(inp["shape"]) * std + mean).astype(inp["dtype"]))
        else:
            out.append(rng.standard_normal(inp["shape"]).astype(inp["dtype"]))
    return out


def larger_batch(size: list[dict], batch: int) -> list[dict] | None:
    """SIZE with its batch grown to BATCH: the first array input's leading dimension, and that of every
    array input sharing it, take BATCH (fresh draws, not copies: copies leave batch statistics as
    they were). None when there is no leading dimension to grow or it is already that large."""
    arrays = [inp for inp in size if "value" not in inp and len(inp.get("shape") or ()) >= 2]
    if not arrays:
        return None
    lead = arrays[0]["shape"][0]
    if lead >= batch:
        return None
    return [dict(inp, shape=[batch, *inp["shape"][1:]]) if inp in arrays and inp["shape"][0] == lead else inp
            for inp in size]


# BatchNorm statistics are calibrated (weights.calibrate_batchnorm) over a batch of this many fresh
# samples where the inputs' batch can grow, within CALIBRATION_ELEMENTS input elements.
CALIBRATION_BATCH, CALIBRATION_ELEMENTS = 64, 2**20


def calibration_inputs(size: list[dict], seed: int) -> list[list]:
    """Inputs to calibrate BatchNorm running statistics on, best first: a batch of up to CALIBRATION_BATCH
    fresh samples, then the first trial's own. A deep layer of a small image holds a few values per
    channel and sample: over a batch of two some channel's variance is near zero, and dividing by it in
    eval mode turns float32 rounding into differences as large as the outputs."""
    trial = make_arrays(size, seed, 0)
    grown = [inp for inp in size if "value" not in inp and len(inp.get("shape") or ()) >= 2]
    if not grown:
        return [trial]
    per_sample = sum(int(np.prod(inp["shape"][1:])) for inp in grown)
    bigger = larger_batch(size, min(CALIBRATION_BATCH, CALIBRATION_ELEMENTS // max(per_sample, 1)))
    return [trial] if bigger is None else [make_arrays(bigger, seed, CALIBRATION_BATCH), trial]


def shapes(size: list[dict]) -> str:
    def one(x: dict) -> str:
        if is_stand_in(x.get("value")):
            return f"a Linear({x['value']['features']}) model"
        return str(x.get("shape", x.get("value")))

    return "(" + ", ".join(one(x) for x in size) + ")"


def pack(inputs: list) -> tuple[list[dict], list]:
    descs, arrays = [], []
    for x in inputs:
        if isinstance(x, np.ndarray):
            arrays.append(x)
            descs.append({"a": len(arrays) - 1})
        elif isinstance(x, tuple):  # JSON has no tuple: said so, and made one again
            descs.append({"v": list(x), "tuple": True})
        else:
            descs.append({"v": x})
    return descs, arrays


def unpack(descs: list[dict], arrays: list) -> list:
    return [arrays[d["a"]] if "a" in d else tuple(d["v"]) if d.get("tuple") and isinstance(d["v"], list) else d["v"]
            for d in descs]
