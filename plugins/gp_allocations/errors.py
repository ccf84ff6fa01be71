"""Errors a user sees. Each names the file, row, column and rule, so nothing has to be guessed."""

from __future__ import annotations

from collections.abc import Sequence


class PipelineError(Exception):
    """Base of every error raised on purpose by this package."""


class InputError(PipelineError):
    """Bad input: names the file, the 1-based data row (header = row 1), the column and the rule."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        rule: str | None = None,
    ) -> None:
        self.file = file
        self.row = row
        self.column = column
        self.rule = rule
        self.detail = message
        where = []
        if file is not None:
            where.append(f"file {file}")
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        if rule is not None:
            where.append(f"rule {rule}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class LayoutError(InputError):
    """A file whose columns match no known published layout."""


class ValidationFailed(PipelineError):
    """Error-severity expectations failed; nothing may be published."""


class WarehouseRefused(PipelineError):
    """The warehouse's own constraints refused a load that validation passed (nothing was loaded)."""


class PublishError(PipelineError):
    """Outputs could not be written or moved into place; the previous outputs are untouched."""


class ReconciliationFailed(PipelineError):
    """A reconciliation gate failed (a total does not add up); nothing may be staged or published.

    ``check`` names the check; ``expected`` and ``actual`` are its two figures.
    """

    def __init__(self, message: str, *, check: str, expected: object, actual: object) -> None:
        self.check = check
        self.expected = expected
        self.actual = actual
        super().__init__(message)


class PlausibilityFailed(InputError):
    """A plausibility gate (``plausibility``) was breached and the run has no override: nothing is
    staged or published. ``rule`` is the first breached gate; ``breaches`` every breach."""

    def __init__(self, message: str, *, rule: str, breaches: Sequence[object]) -> None:
        self.breaches = list(breaches)
        super().__init__(message, rule=rule)


class PeriodMismatch(InputError):
    """An extract is for another period than the run's (rule ``extract_period_matches_run``)."""

    def __init__(
        self,
        message: str,
        *,
        extract: str,
        found_period: str,
        run_period: str,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        also: tuple[PeriodMismatch, ...] = (),
        rule: str = "extract_period_matches_run",
    ) -> None:
        self.extract = extract
        self.found_period = found_period
        self.run_period = run_period
        #: the run's other extracts of another period (the message lists them too)
        self.also = also
        super().__init__(message, file=file, row=row, column=column, rule=rule)
