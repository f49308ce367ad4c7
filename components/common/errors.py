"""The one exception type for bad user input, with a message that says where.

ARCHITECTURE.md rule 5: bad input stops a component with an error naming the file,
row or column and what was expected. A bad parameter (an argument or option a user
set, not a column of their data) is named as one: ``parameter='rounds'`` renders
"parameter 'rounds': ...", ``column='label'`` renders "column 'label': ...". Raising `InputError` from an executor
fails the execution, so TFX publishes none of its outputs.
"""

from __future__ import annotations

from typing import NoReturn


class InputError(ValueError):
    """Bad input data or configuration.

    Args:
      what: what is wrong, e.g. "value 'abc' is not a number".
      file: the file (or source URI) where it was found.
      row: 1-based data row (for CSV: the line number, header is line 1).
      column: the data column / feature / array name.
      parameter: the parameter (argument, option, component parameter) name.
      function: a function (or other name) of a user's module that was
        missing or did not do what was expected.
      expected: what would have been accepted.
    """

    def __init__(
        self,
        what: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        parameter: str | None = None,
        function: str | None = None,
        expected: str | None = None,
    ) -> None:
        where = ", ".join(
            part
            for part in (
                f"file {file}" if file else "",
                f"row {row}" if row is not None else "",
                f"column {column!r}" if column else "",
                f"parameter {parameter!r}" if parameter else "",
                f"function {function!r}" if function else "",
            )
            if part
        )
        msg = f"{where}: {what}" if where else what
        if expected:
            msg += f" (expected {expected})"
        super().__init__(msg)
        self.file, self.row, self.column, self.expected = file, row, column, expected
        self.parameter, self.function = parameter, function


def raise_unwrapped(exc: BaseException) -> NoReturn:
    """Re-raises `exc`, or the `InputError` behind it (see `find_input_error`), so that
    a bad input inside a Beam pipeline still reaches the user with its own message."""
    original = find_input_error(exc)
    if original is not None and original is not exc:
        raise original.with_traceback(original.__traceback__) from None
    raise exc


def find_input_error(exc: BaseException) -> InputError | None:
    """The innermost `InputError` behind an exception that Beam re-raised
    (Beam re-wraps a DoFn's exception, appending the step name and losing the
    attributes; the original hangs on as the cause or context)."""
    found, seen = None, set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, InputError):
            found = exc
        exc = exc.__cause__ or exc.__context__
    return found
