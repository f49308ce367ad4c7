"""`InputError` names a data column as a column, a parameter as a parameter and a user
module's function as a function; the shared parameter checks name parameters."""

from __future__ import annotations

import numpy as np
import pytest

from frontier.components.common.checks import check_int, check_labels, check_real
from frontier.components.common.errors import InputError


def test_a_parameter_renders_as_a_parameter_and_a_column_as_a_column():
    e = InputError("rounds is 0", parameter="rounds", expected="an integer >= 1")
    assert str(e) == "parameter 'rounds': rounds is 0 (expected an integer >= 1)"
    assert (e.parameter, e.column) == ("rounds", None)
    e = InputError("value 'x' is not a number", file="a.csv", row=3, column="b")
    assert str(e) == "file a.csv, row 3, column 'b': value 'x' is not a number"
    assert (e.parameter, e.column) == (None, "b")
    e = InputError("m.py: build_model returned int", function="build_model", expected="a Model")
    assert str(e) == "function 'build_model': m.py: build_model returned int (expected a Model)"
    assert (e.function, e.column, e.parameter) == ("build_model", None, None)


def test_parameter_checks_name_the_parameter_and_label_checks_the_column():
    with pytest.raises(InputError, match=r"^parameter 'epochs': epochs is 0 \(expected") as e:
        check_int(0, "epochs", 1)
    assert e.value.parameter == "epochs" and e.value.column is None
    with pytest.raises(InputError, match=r"^parameter 'clip': clip is -1\.0"):
        check_real(-1.0, "clip", low=0.0, low_ok=False)
    with pytest.raises(InputError, match=r"^row 2, column 'label': class id 7") as e:
        check_labels(np.array([0, 7]), 3)
    assert e.value.column == "label" and e.value.parameter is None
