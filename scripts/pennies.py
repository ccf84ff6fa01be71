"""Behaviour pin of the allocation engine: every practice's pennies, every variant and QOF.

Two baselines, both built by the project's own generator (fixed seed and period) and read through the
pipeline's own stages (pull, standardise, load into a throw-away SQLite warehouse, the compute inputs):

- ``small``: 200 practices, checked in full (``tests/baselines/pennies_small.csv``: one row per
  practice, one column per variant plus QOF, integer pennies);
- ``england``: the default England-sized sample (6,500 practices), checked by digest
  (``tests/baselines/pennies_england.json``: SHA-256 of each sub-ICB's practice rows, England totals
  per variant, and SHA-256 of the generated files and of the engine's inputs, so a difference says
  whether the inputs or the engine moved).

    python scripts/pennies.py check  [--size small|england]   # exit 1 and say what differs
    python scripts/pennies.py write  [--size small|england]   # rewrite a baseline (a deliberate change)
    python scripts/pennies.py dump --out FILE.csv [--size ...]  # every practice's pennies, to compare

A deliberate change to the money (named in CHANGELOG) rewrites only the columns it changes; the
``changes`` list in the England file names it, so the history of the pin is readable.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
BASELINES = ROOT / "tests" / "baselines"
PERIOD = "2025-26-Q2"
SEED = 20261122


@dataclass(frozen=True)
class Size:
    name: str
    practices: int


SIZES = {"small": Size("small", 200), "england": Size("england", 6500)}


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _frame_digest(frame: pd.DataFrame) -> str:
    ordered = frame[sorted(frame.columns)].sort_values(sorted(frame.columns), kind="stable")
    return _sha256_bytes(ordered.to_csv(index=False, lineterminator="\n").encode("utf-8"))


def engine_inputs(size: Size, work: Path) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Generate the sample, then pull, standardise and load it as a run does; return the compute inputs
    (as the compute stage reads them from the warehouse) and the SHA-256 of every generated file."""
    from gp_allocations import pipeline
    from gp_allocations.config import RunContext
    from gp_allocations.periods import Period
    from gp_allocations.warehouse import make_engine, read_compute_inputs
    from gp_allocations_samples import generate_samples

    source = work / "extracts"
    written = generate_samples(source, period=Period.parse(PERIOD), practices=size.practices, seed=SEED)
    files = {
        f"{extract}/{path.name}": _sha256_bytes(path.read_bytes())
        for extract, paths in sorted(written.items())
        for path in paths
    }
    ctx = RunContext.prepare(
        run_id=f"pennies-{size.name}",
        period=PERIOD,
        source=str(source),
        warehouse_url=f"sqlite:///{work / 'warehouse.sqlite'}",
        output_root=str(work / "outputs"),
        data_dir=str(work / "var"),
    )
    pipeline.stage_pull(ctx)
    pipeline.stage_standardise(ctx)
    pipeline.stage_load(ctx)
    return read_compute_inputs(make_engine(ctx.warehouse_url), PERIOD), files


def engine_pennies(inputs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per practice: practice_code, sub_icb_code, payable capitation per variant, qof."""
    from gp_allocations.aggregates import PAYABLE
    from gp_allocations.engine import compute_allocations
    from gp_allocations.periods import Period
    from gp_allocations.variants import DEFAULT_VARIANT, QOF

    allocation = compute_allocations(inputs, period=Period.parse(PERIOD))
    money = allocation.totals.of("practice").money
    out = allocation.practices[["practice_code", "sub_icb_code"]].copy().set_index("practice_code")
    for variant in allocation.variants:
        rows = money[(money["variant"] == variant) & (money["line"] == PAYABLE)].set_index("code")
        out[variant] = rows["pence"].reindex(out.index).astype("int64")
    rows = money[(money["variant"] == DEFAULT_VARIANT) & (money["line"] == QOF)].set_index("code")
    out["qof"] = rows["pence"].reindex(out.index).astype("int64")
    return out.reset_index().sort_values("practice_code", kind="stable").reset_index(drop=True)


def measure(size: Size) -> tuple[pd.DataFrame, dict[str, str], dict[str, str]]:
    """(pennies, generated-file digests, engine-input digests) for one size."""
    with tempfile.TemporaryDirectory(prefix=f"pennies-{size.name}-") as tmp:
        inputs, files = engine_inputs(size, Path(tmp))
    digests = {name: _frame_digest(frame) for name, frame in sorted(inputs.items())}
    return engine_pennies(inputs), files, digests


def england_document(pennies: pd.DataFrame, files: dict[str, str], inputs: dict[str, str]) -> dict:
    money = [c for c in pennies.columns if c not in ("practice_code", "sub_icb_code")]

    def digest(part: pd.DataFrame, column: str) -> str:
        text = part[["practice_code", column]].to_csv(index=False, lineterminator="\n")
        return _sha256_bytes(text.encode("utf-8"))

    return {
        "period": PERIOD,
        "seed": SEED,
        "practices": len(pennies),
        "columns": money,
        "england_total_pence": {c: int(pennies[c].sum()) for c in money},
        "sub_icb_sha256": {
            column: {
                str(code): digest(part, column) for code, part in pennies.groupby("sub_icb_code", sort=True)
            }
            for column in money
        },
        "generated_files_sha256": files,
        "engine_inputs_sha256": inputs,
        "changes": [],
    }


def baseline_path(size: Size, *, original: bool = False) -> Path:
    """The committed baseline; ``original``: the one committed before the output-side redesign."""
    suffix = "_original" if original else ""
    return BASELINES / (
        f"pennies_small{suffix}.csv" if size.name == "small" else f"pennies_england{suffix}.json"
    )


def read_small(*, original: bool = False) -> pd.DataFrame:
    path = baseline_path(SIZES["small"], original=original)
    return pd.read_csv(path, dtype={"practice_code": str, "sub_icb_code": str})


def _changes() -> list[dict]:
    return list(json.loads(baseline_path(SIZES["england"]).read_text()).get("changes", []))


def changed_columns() -> set[str]:
    """The columns a deliberate, named change (CHANGELOG) has moved since the original baseline."""
    return {c for change in _changes() for c in change["columns"]}


def added_columns() -> set[str]:
    """Variants a named change added since the original baseline (pinned from then on)."""
    return {c for change in _changes() for c in change.get("added", [])}


def changed_inputs() -> set[str]:
    """Engine inputs a named change reshaped (e.g. a canonical column added to an extract)."""
    return {c for change in _changes() for c in change.get("inputs", [])}


def compare(
    size: Size,
    pennies: pd.DataFrame,
    files: dict[str, str],
    inputs: dict[str, str],
    *,
    original: bool = False,
) -> list[str]:
    """What differs from the committed baseline (empty: identical). ``original``: compare with the
    baseline from before the redesign, every column but those a named change moved."""
    problems: list[str] = []
    if size.name == "small":
        want = read_small(original=original)
        if original:
            keep = [c for c in want.columns if c not in changed_columns()]
            now = [c for c in pennies.columns if c not in added_columns()]
            if list(want.columns) != now:
                return [f"columns differ: original {list(want.columns)}, now {now} (less the added)"]
            want, pennies = want[keep], pennies[keep]
        if list(want.columns) != list(pennies.columns):
            return [f"columns differ: baseline {list(want.columns)}, now {list(pennies.columns)}"]
        if len(want) != len(pennies) or not (want["practice_code"] == pennies["practice_code"]).all():
            return ["the practices differ from the baseline"]
        for column in want.columns[2:]:
            diff = pennies[column].astype("int64") - want[column].astype("int64")
            if diff.any():
                worst = diff.abs().idxmax()
                problems.append(
                    f"{column}: {int((diff != 0).sum())} practices differ, largest "
                    f"{pennies.loc[worst, 'practice_code']} by {int(diff[worst])} pence"
                )
        return problems
    want_doc = json.loads(baseline_path(size, original=original).read_text())
    doc = england_document(pennies, files, inputs)
    if original:
        skip = changed_columns() | added_columns()
        for d in (want_doc, doc):
            d["columns"] = [c for c in d["columns"] if c not in skip]
            d["england_total_pence"] = {k: v for k, v in d["england_total_pence"].items() if k not in skip}
            d["sub_icb_sha256"] = {k: v for k, v in d["sub_icb_sha256"].items() if k not in skip}
            d["engine_inputs_sha256"] = {
                k: v for k, v in d["engine_inputs_sha256"].items() if k not in changed_inputs()
            }
    for key in ("generated_files_sha256", "engine_inputs_sha256"):
        moved = sorted(
            k for k in set(want_doc[key]) | set(doc[key]) if want_doc[key].get(k) != doc[key].get(k)
        )
        if moved:
            problems.append(f"{key} differ (the inputs moved, not only the engine): {moved}")
    for key in ("practices", "columns", "england_total_pence"):
        if want_doc[key] != doc[key]:
            problems.append(f"{key}: baseline {want_doc[key]}, now {doc[key]}")
    for column, digests in doc["sub_icb_sha256"].items():
        want = want_doc["sub_icb_sha256"].get(column, {})
        subs = sorted(c for c, h in digests.items() if want.get(c) != h)
        if subs:
            problems.append(f"{column}: {len(subs)} sub-ICB locations differ, e.g. {subs[:5]}")
    return problems


def write(size: Size, pennies: pd.DataFrame, files: dict[str, str], inputs: dict[str, str]) -> Path:
    path = baseline_path(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    if size.name == "small":
        pennies.to_csv(path, index=False, lineterminator="\n")
    else:
        doc = england_document(pennies, files, inputs)
        if path.is_file():
            doc["changes"] = json.loads(path.read_text()).get("changes", [])
        path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=("check", "write", "dump"))
    parser.add_argument(
        "--original", action="store_true", help="check: against the baseline from before the redesign"
    )
    parser.add_argument("--size", choices=sorted(SIZES), default="england")
    parser.add_argument("--out", help="dump: the CSV to write")
    args = parser.parse_args(argv)
    size = SIZES[args.size]
    pennies, files, inputs = measure(size)
    if args.command == "dump":
        pennies.to_csv(args.out, index=False, lineterminator="\n")
        print(f"wrote {args.out}")
        return 0
    if args.command == "write":
        print(f"wrote {write(size, pennies, files, inputs)}")
        return 0
    problems = compare(size, pennies, files, inputs)
    if args.original or not problems:
        problems += [
            f"(against the original) {p}" for p in compare(size, pennies, files, inputs, original=True)
        ]
    for line in problems:
        print(f"DIFFERS: {line}")
    if not problems:
        print(
            f"{size.name}: {len(pennies)} practices, every variant and QOF identical to the baseline, and "
            f"identical to the original baseline except the named changes to {sorted(changed_columns())}"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "plugins"))
    sys.exit(main())
