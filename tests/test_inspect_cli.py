"""``python -m gp_allocations inspect FILE`` as a user runs it: a subprocess, on every real file and on
a file of no known layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from _support import REAL

ROOT = Path(__file__).resolve().parent.parent


def _inspect(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "plugins")}
    return subprocess.run(
        [sys.executable, "-m", "gp_allocations", "inspect", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


def _json_objects(text: str) -> list[dict]:
    decoder, out, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        obj, i = decoder.raw_decode(text, i)
        out.append(obj)
    return out


@pytest.mark.realdata
@pytest.mark.skipif(not REAL.is_dir(), reason=f"real NHS files not present at {REAL} (a user's clone)")
def test_inspect_every_real_file():
    every = sorted(p for p in REAL.rglob("*") if p.suffix in {".csv", ".xlsx", ".zip"})
    assert len(every) == 19
    files = every
    done = _inspect("--json", *map(str, files))
    assert done.returncode == 0, done.stderr[-2000:]
    infos = {i["file"]: i for i in _json_objects(done.stdout)}
    assert set(infos) == {p.name for p in files}
    for info in infos.values():
        assert info["rows"] > 0 and info["extract"] and info["layout"], info
    pay = infos["nhspaymentsgp-22-23-prac-csv.csv"]
    # facts a user can check in the file: 6,669 practice rows, published 2022/23, "Global Sum" column
    assert (pay["extract"], pay["layout"], pay["period"], pay["rows"]) == (
        "contracts",
        "payments_sub_icb_2022",
        "2022/23",
        6669,
    )
    assert pay["columns"]["global_sum_pence"] == "Global Sum"
    assert infos["QOF 2022-23.csv"]["rows"] == 6378
    # every era labelled, every period inferred (payments and QOF summaries from the file name)
    eras = {
        name: (infos[name]["layout"], infos[name]["period"])
        for name in infos
        if name.startswith("nhspaymentsgp") or name.startswith("QOF ")
    }
    assert eras == {
        "nhspaymentsgp-14-15-prac-csv.csv": ("payments_ccg_2014", "2014/15"),
        "nhspaymentsgp-15-16-prac-csv.csv": ("payments_ccg_2014", "2015/16"),
        "nhspaymentsgp-16-17-prac-csv.csv": ("payments_ccg_2016", "2016/17"),
        "nhspaymentsgp-18-19-csv.csv": ("payments_ccg_2018", "2018/19"),
        "nhspaymentsgp-22-23-prac-csv.csv": ("payments_sub_icb_2022", "2022/23"),
        "QOF 2017-18.csv": ("qof_summary_ccg_2017", "2017/18"),
        "QOF 2018-19.csv": ("qof_summary_ccg_2018", "2018/19"),
        "QOF 2022-23.csv": ("qof_summary_sub_icb_2022", "2022/23"),
    }
    assert all(info["period"] for info in infos.values()), {i["file"]: i["period"] for i in infos.values()}
    assert all(info["period_from"] for info in infos.values())
    old = infos["nhspaymentsgp-18-19-csv.csv"]
    assert old["columns"]["region_code"] == "NHS England and NHS Improvement (Region, local office) Code"
    assert old["columns"]["practice_rurality"] == "Practice Rurality" and old["period_from"] == "file name"
    assert infos["gp-reg-pat-prac-map.csv"]["extract"] == "practice_map"
    assert infos["fingertips_93553_practice_imd.csv"]["extract"] == "deprivation_practice"
    assert infos["epraccur.csv"]["extract"] == "ods_practices"
    # the plain-text form names the extract and layout too
    text = _inspect(str(REAL / "registrations" / "gp-reg-pat-prac-map.csv"))
    assert text.returncode == 0 and "practice_map" in text.stdout and "prac_map_ccg_2020" in text.stdout


def test_inspect_unknown_layout(tmp_path):
    odd = tmp_path / "mystery.csv"
    odd.write_text("colour,flavour\nred,cherry\n")
    done = _inspect(str(odd))
    assert done.returncode == 2
    assert done.stdout == ""
    assert "mystery.csv" in done.stderr and "layout" in done.stderr.lower()


QUIN = "PUBLICATION,EXTRACT_DATE,ORG_TYPE,ORG_CODE,ONS_CODE,POSTCODE,SEX,AGE_GROUP_5,NUMBER_OF_PATIENTS\n"
GP_ROW = "GP_PRAC_PAT_LIST,2024-06-01,GP,A81001,E38000247,TS18 1HU,MALE,0_4,"


@pytest.mark.parametrize(
    ("name", "data", "rule"),
    [
        ("gp-reg-pat-prac-quin-age.csv", QUIN + GP_ROW + "10,X\n", "file:field-count"),
        ("gp-reg-pat-prac-quin-age.csv", QUIN + GP_ROW + "9e18\n", "type:integer"),
        ("gp-reg-pat-prac-quin-age.csv", QUIN + GP_ROW + "99999999999999999999999\n", "range:count"),
        ("gp-reg-pat-prac-quin-age.csv", QUIN + GP_ROW + "\u0661\u0662\n", "type:integer"),
        ("gp-reg-pat-prac-quin-age.csv", QUIN + GP_ROW + '"10\n', "file:csv"),
        ("ePCN.xlsx", "not a workbook at all", "file:xlsx"),
    ],
)
def test_a_hostile_file_is_one_line_and_exit_2_never_a_traceback(tmp_path, name, data, rule):
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8"))
    done = _inspect(str(path))
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{path}: file {name}") and f"rule {rule}:" in last, done.stderr
