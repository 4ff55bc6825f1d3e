"""A tiny column store used by the data team; deliberately pandas-like, and unrelated to torch."""

import numpy as np


class Frame:
    def __init__(self, columns):
        self.columns = {k: np.asarray(v) for k, v in columns.items()}

    def size(self):
        n = len(next(iter(self.columns.values()))) if self.columns else 0
        return n, len(self.columns)

    def numel(self):
        rows, cols = self.size()
        return rows * cols

    def view(self, names):
        """A frame restricted to some columns (shares the arrays)."""
        return Frame({k: self.columns[k] for k in names})

    def transpose(self):
        """Column-major copy: each column becomes a contiguous array (our 'wide' layout)."""
        return Frame({k: np.ascontiguousarray(v) for k, v in self.columns.items()})

    def take(self, rows):
        return Frame({k: v[rows] for k, v in self.columns.items()})

    def add_(self, name, values):
        self.columns[name] = np.asarray(values)
        return self

    def cuda(self):
        """Historical name ('column-uniform cast'): every numeric column becomes float64."""
        return Frame({k: v.astype(np.float64) if v.dtype.kind in "iuf" else v for k, v in self.columns.items()})
