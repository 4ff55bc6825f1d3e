"""Turn raw little-endian sample buffers into fixed-size float frames (numpy only)."""

import numpy as np

FRAME = 16


def decode(raw: np.ndarray) -> np.ndarray:
    # The recorder writes float32 samples into a uint8 buffer; reinterpret, do not convert.
    as_float = raw.view(np.float32)
    return as_float.copy()


def frame_signal(samples: np.ndarray, n_frames: int):
    frames = samples[: n_frames * FRAME].reshape(FRAME, n_frames)
    frames = frames.transpose(1, 0)
    stats = {}
    if frames.size == 0:
        return frames, stats
    stats.update(mean=float(frames.mean()), std=float(frames.std()))
    return frames.reshape(-1, FRAME).astype(np.float32), stats


def label_names(labels: dict) -> list:
    names = list(labels.keys()); names.sort()
    return names
