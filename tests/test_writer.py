"""The workbook writer's formula fast path: the same formula text as XlsxWriter's own renaming pass."""

from __future__ import annotations

import pytest
from xlsxwriter.worksheet import Worksheet

from gp_allocations.workbooks.writer import CLASSIC_FUNCTIONS, Workbook, _Worksheet

FORMULAS = [
    "=ROUND(D4*E4*(1-F4),0)/100",
    "{=SUM(A1:A3)}",
    "=SUBTOTAL(109,[Annual £])",
    "=IF(ABS(B4-C4)<0.005,0,SIGN(B4-C4)*INT(MOD(B4,1)))",
    "=A1+B1",
    # newer functions: XlsxWriter's pass must still rename them
    "=XLOOKUP(A1,B:B,C:C)",
    "=ROUND(STDEV.S(A1:A9),2)",
    "=sum(A1:A3)+CONCAT(B1,C1)",
    "=_xlfn.STDEV.S(A1:A3)",
    '=IF(A1>0,"UNIQUE(",SORT(B1:B3))',
    "=LET(x,1,x+1)",
]


@pytest.mark.parametrize("formula", FORMULAS)
@pytest.mark.parametrize("future", [False, True])
def test_same_text_as_xlsxwriter(formula: str, future: bool) -> None:
    assert _Worksheet()._prepare_formula(formula, future) == Worksheet()._prepare_formula(formula, future)


def test_classic_formulas_skip_the_pass_and_others_do_not(monkeypatch: pytest.MonkeyPatch) -> None:
    passed: list[str] = []
    original = Worksheet._prepare_formula

    def counted(self: Worksheet, formula: str, expand: bool = False) -> str:
        passed.append(formula)
        return original(self, formula, expand)

    monkeypatch.setattr(Worksheet, "_prepare_formula", counted)
    ws = _Worksheet()
    ws._prepare_formula("=ROUND(SUM(A1:A3),0)", True)
    assert passed == []
    ws._prepare_formula("=XLOOKUP(A1,B:B,C:C)")
    assert passed == ["=XLOOKUP(A1,B:B,C:C)"]
    assert "XLOOKUP" not in CLASSIC_FUNCTIONS


def test_workbook_sheets_use_the_fast_worksheet(tmp_path) -> None:
    wb = Workbook(str(tmp_path / "x.xlsx"))
    assert isinstance(wb.add_worksheet("A"), _Worksheet)
    wb.close()
