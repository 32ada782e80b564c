"""Self-checks of chapter 03, deployment patterns (exercise set ``03-patterns``)."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ._harness import CheckResult, Case, call, exercise, expect, expect_raises, run


STEM = "03-patterns"

_HINT_PREDICT_IN_BATCHES = (
    'for start in range(0, len(X), batch_size): predict X.iloc[start:start + batch_size] '
    '(or X[start:...] for arrays); np.concatenate the pieces. Check batch_size first.'
)
# --------------------------------------------------------------------------- predict_in_batches
class _RecordingModel:
    """Predicts the row's first value times two and records every batch it is given."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def predict(self, X):
        values = np.asarray(X, dtype=float)
        self.batches.append(len(values))
        return values[:, 0] * 2


def _batching_cases() -> list[Case]:
    def case(n_rows, batch_size):
        def run(func):
            X = pd.DataFrame({"a": np.arange(n_rows, dtype=float), "b": 1.0})
            model = _RecordingModel()
            given = f"a {n_rows}-row DataFrame, batch_size={batch_size}"
            got = call(func, model, X, batch_size=batch_size)
            expected_batches = [min(batch_size, n_rows - start) for start in range(0, n_rows, batch_size)]
            expect(isinstance(got, np.ndarray) and got.shape == (n_rows,), given,
                   f"an ndarray of shape ({n_rows},)",
                   f"{type(got).__name__} of shape {getattr(got, 'shape', '?')}")
            expect(np.array_equal(got, X["a"].to_numpy() * 2), given,
                   "model.predict(X) on every row, in order", got)
            expect(model.batches == expected_batches, given,
                   f"predict called on batches of {expected_batches}", f"batches of {model.batches}")
        return run

    def bad_size(func):
        X = pd.DataFrame({"a": [1.0, 2.0]})
        error = expect_raises(func, ValueError, "batch_size=0", _RecordingModel(), X, batch_size=0)
        expect("batch_size" in str(error), "batch_size=0", "the message to name `batch_size`",
               str(error))

    return [
        Case("a last, partial batch", case(1000, 256)),
        Case("rows divide evenly into batches", case(512, 256)),
        Case("fewer rows than one batch", case(10, 100)),
        Case("exactly one full batch", case(7, 7)),
        Case("a batch size of one is allowed", case(5, 1)),
        Case("a batch size of zero is an error", bad_size),
    ]


@exercise("predict_in_batches", STEM, _HINT_PREDICT_IN_BATCHES)
def check_predict_in_batches(func: Callable[..., np.ndarray], *, verbose: bool = True) -> CheckResult:
    """Check an exercise's ``predict_in_batches(model, X, *, batch_size=256)``.

    It must return ``model.predict`` of every row of the DataFrame ``X``, in order, as one
    ndarray, calling ``predict`` on consecutive chunks of at most ``batch_size`` rows (no
    empty chunk), and raise ``ValueError`` naming ``batch_size`` when it is below 1.

    Examples
    --------
    A version that forgets the last, partial chunk:

    >>> import numpy as np
    >>> def floor(model, X, *, batch_size=256):
    ...     n_full = len(X) // batch_size
    ...     return np.concatenate([model.predict(X.iloc[i * batch_size:(i + 1) * batch_size])
    ...                            for i in range(n_full)])
    >>> result = check_predict_in_batches(floor)
    predict_in_batches: FAILED on case 1 of ..., "a last, partial batch".
      input:    a 1000-row DataFrame, batch_size=256
      expected: an ndarray of shape (1000,)
      got:      ndarray of shape (768,)
    ...
    """
    return run("predict_in_batches", func, _batching_cases(), verbose=verbose)
