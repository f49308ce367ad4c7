"""Parameter checks shared by every component and plain function.

Each check returns the value in its canonical Python type, or raises
`InputError` naming the parameter (`parameter=name`) and what was expected, so a
user reads e.g. "parameter 'clip': clip is -1.0 (expected a finite number > 0)".
`check_labels` checks data, and names a column.
A bool is never accepted as a number: `True` for an epoch count is a slip.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from frontier.components.common.errors import InputError
from frontier.schemas.dataset import INT_ROLE_KEYS


def is_int(value: Any) -> bool:
    """Whether `value` is an integer (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_real(value: Any) -> bool:
    """Whether `value` is a finite real number (Python or NumPy), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def check_int(value: object, name: str, minimum: int) -> int:
    """`value` as an int after checking it is an integer (not a bool) >= `minimum`.

    Raises:
      InputError: naming the parameter `name`.
    """
    if not is_int(value):
        raise InputError(
            f"{name} must be an integer, got {value!r}",
            parameter=name,
            expected=f"an integer >= {minimum}",
        )
    if value < minimum:
        raise InputError(f"{name} is {value}", parameter=name, expected=f"an integer >= {minimum}")
    return int(value)


def check_optional_int(value: object, name: str, minimum: int) -> int | None:
    """None as is, otherwise `check_int(value, name, minimum)` (e.g. `restart_every`)."""
    if value is None:
        return None
    if not is_int(value) or value < minimum:
        raise InputError(
            f"{name} is {value!r}", parameter=name, expected=f"None or an integer >= {minimum}"
        )
    return int(value)


def check_real(
    value: object,
    name: str,
    *,
    low: float = -math.inf,
    low_ok: bool = True,
    high: float = math.inf,
    high_ok: bool = False,
) -> float:
    """`value` as a float after checking it is a finite number in the range.

    Args:
      value: the parameter's value.
      name: the parameter's name, for the error.
      low, low_ok: the lower bound, and whether it is allowed itself.
      high, high_ok: the upper bound, and whether it is allowed itself.

    Raises:
      InputError: naming the parameter `name` and the range.
    """
    parts = []
    if low > -math.inf:
        parts.append(f"{'>=' if low_ok else '>'} {low:g}")
    if high < math.inf:
        parts.append(f"{'<=' if high_ok else '<'} {high:g}")
    expected = "a finite number" + (" " + " and ".join(parts) if parts else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(
            f"{name} must be a number, got {value!r}", parameter=name, expected=expected
        )
    number = float(value)
    in_range = (
        math.isfinite(number)
        and (number >= low if low_ok else number > low)
        and (number <= high if high_ok else number < high)
    )
    if not in_range:
        raise InputError(f"{name} is {number}", parameter=name, expected=expected)
    return number


def check_positive(value: object, name: str) -> float:
    """`value` as a float after checking it is a finite number > 0."""
    return check_real(value, name, low=0.0, low_ok=False)


def check_choice(value: object, name: str, choices: tuple[str, ...] | list[str]) -> str:
    """`value` after checking it is one of `choices`."""
    if value not in choices:
        raise InputError(f"{name} = {value!r}", parameter=name, expected=f"one of {list(choices)}")
    return str(value)


def check_label_key(label_key: str) -> None:
    """Raises `InputError` unless `label_key` names an int role column (a class id)."""
    if label_key not in INT_ROLE_KEYS:
        raise InputError(
            f"label_key {label_key!r}", parameter="label_key", expected=" or ".join(INT_ROLE_KEYS)
        )


def check_labels(
    y: np.ndarray, num_classes: int, *, column: str = "label", file: str | None = None
) -> np.ndarray:
    """Returns `y` as int64 [N] after checking every id is in [0, num_classes).

    Raises:
      InputError: naming the first bad row (1-based) and the column.
    """
    y = np.asarray(y)
    if y.ndim != 1:
        raise InputError(
            f"labels have shape {y.shape}", column=column, file=file, expected="shape [N]"
        )
    bad = np.flatnonzero((y < 0) | (y >= num_classes))
    if bad.size:
        i = int(bad[0])
        raise InputError(
            f"class id {int(y[i])} out of range ({bad.size} such rows)",
            file=file,
            row=i + 1,
            column=column,
            expected=f"an id in [0, {num_classes})",
        )
    return y.astype(np.int64)
