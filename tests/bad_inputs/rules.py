"""Every rule the pipeline can report, collected from where each is declared, for docs/bad-inputs.md.

Nothing here is a second list to keep in step by hand:
- validation rules: every expectation of every suite in ``expectations/`` (``meta.rule``, ``meta.severity``,
  ``meta.description``) and every rule of a rules file there (``{"rules": [{rule, severity, description}]}``,
  such as ``cross_extract.json``);
- code rules: every ``rule`` given as a literal in the domain package, found in its source: a keyword
  ``rule="..."`` on any call (``InputError(..., rule="file:empty")``), or the literal passed in the
  ``rule`` position of a package function that takes a ``rule`` parameter (``_fail(..., "type:money",
  ...)``). A helper that adds ``raise InputError(..., rule="x")`` is listed without touching this file.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "plugins" / "gp_allocations"
EXPECTATIONS = REPO / "expectations"

#: The stage whose module raises a code rule (the module's first name below the package).
STAGE_OF_MODULE = {
    "pull": "pull",
    "limits": "pull, standardise",
    "extracts": "pull, standardise",
    "rowchecks": "standardise",
    "layouts": "standardise",
    "sources": "standardise",
    "standardise": "standardise",
    "conversions": "standardise",
    "validation": "validate",
    "cross_extract": "validate",
    "findings": "validate",
    "warehouse": "load",
    "engine": "compute",
    "checks": "compute",
    "variants": "compute",
    "publish": "publish",
    "workbooks": "publish",
    "config": "prepare",
    "cli": "prepare",
    "periods": "prepare",
    "hierarchy": "load",
    "period_rules": "standardise",
    "plausibility": "compute",
}


@dataclass
class Rule:
    """One rule id as a user meets it: where it is declared, how severe, what it checks."""

    rule: str
    source: str  # "expectations/<file>.json" or "plugins/gp_allocations/<module>.py"
    severity: str  # "error" or "warning" (both, if the same id is used at two severities)
    checks: str
    columns: list[str] = field(default_factory=list)
    stage: str = ""
    raised_by: list[str] = field(default_factory=list)  # exception classes or helper functions
    message: str = ""  # the message as written in the code, when it is a literal


# ----------------------------------------------------------------------------------------- data rules


def _merge(found: dict[tuple[str, str], Rule], rule: Rule) -> None:
    key = (rule.source, rule.rule)
    if key not in found:
        found[key] = rule
        return
    have = found[key]
    if rule.severity not in have.severity.split(" / "):
        have.severity = f"{have.severity} / {rule.severity}"
    if rule.checks and rule.checks not in have.checks:
        have.checks = f"{have.checks} {rule.checks}".strip()
    have.columns += [c for c in rule.columns if c not in have.columns]
    have.raised_by += [r for r in rule.raised_by if r not in have.raised_by]
    if not have.message:
        have.message = rule.message


def _expectation_columns(kwargs: dict) -> list[str]:
    if kwargs.get("column"):
        return [str(kwargs["column"])]
    if kwargs.get("column_list"):
        return [str(c) for c in kwargs["column_list"]]
    if kwargs.get("column_A"):
        return [str(kwargs["column_A"]), str(kwargs["column_B"])]
    return []


def data_rules(directory: Path = EXPECTATIONS) -> list[Rule]:
    """Every rule of every suite and rules file in ``expectations/``, one per (file, rule id)."""
    found: dict[tuple[str, str], Rule] = {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        source = f"expectations/{path.name}"
        for exp in data.get("expectations") or []:
            meta = exp.get("meta") or {}
            severity = meta.get("severity") or ("error" if exp.get("severity") == "critical" else "warning")
            _merge(
                found,
                Rule(
                    rule=str(meta.get("rule") or exp["type"]),
                    source=source,
                    severity=str(severity),
                    checks=str(meta.get("description") or exp["type"]),
                    columns=_expectation_columns(exp.get("kwargs") or {}),
                    stage="validate",
                ),
            )
        for rule in data.get("rules") or []:
            _merge(
                found,
                Rule(
                    rule=str(rule["rule"]),
                    source=source,
                    severity=str(rule.get("severity") or "error"),
                    checks=str(rule.get("description") or ""),
                    stage="validate",
                ),
            )
    return list(found.values())


# ----------------------------------------------------------------------------------------- code rules


def _rule_parameters(tree: ast.Module) -> dict[str, tuple[int, int | None]]:
    """Functions of one module taking a ``rule`` parameter: name -> (its position, severity's position)."""
    out: dict[str, tuple[int, int | None]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names = [a.arg for a in node.args.posonlyargs + node.args.args]
            if names and names[0] in ("self", "cls"):
                names = names[1:]
            if "rule" in names:
                severity = names.index("severity") if "severity" in names else None
                out[node.name] = (names.index("rule"), severity)
    return out


def _called(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _message(node: ast.Call, *, last: bool = False) -> str:
    """The message as written: the first argument of an error class (its message), or the last of a
    helper (the words it puts in the message), when that argument is a literal or an f-string."""
    if not node.args:
        return ""
    first = node.args[-1 if last else 0]
    if _literal(first) is not None:
        return str(_literal(first))
    if isinstance(first, ast.JoinedStr):
        parts = []
        for value in first.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                parts.append("{" + ast.unparse(value.value) + "}")
        return "".join(parts)
    return ""


def _argument(node: ast.Call, name: str, position: int | None) -> ast.expr | None:
    for kw in node.keywords:
        if kw.arg == name:
            return kw.value
    if position is not None and position < len(node.args):
        return node.args[position]
    return None


def _stage(module: str) -> str:
    first = module.split(".")[0]
    return STAGE_OF_MODULE.get(first, "")


def _classes(tree: ast.Module) -> dict[int, str]:
    """Line number -> the innermost class containing it."""
    out: dict[int, str] = {}
    for node in ast.walk(tree):  # breadth first: inner classes are met after outer ones and win
        if isinstance(node, ast.ClassDef):
            out.update(dict.fromkeys(range(node.lineno, (node.end_lineno or node.lineno) + 1), node.name))
    return out


def code_rules(package: Path = PACKAGE) -> list[Rule]:
    """Every literal rule id raised or reported by the domain package's code, one per (module, rule)."""
    trees = {
        path: ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for path in sorted(package.rglob("*.py"))
    }
    everywhere: dict[str, tuple[int, int | None]] = {}
    for tree in trees.values():
        everywhere.update(_rule_parameters(tree))
    found: dict[tuple[str, str], Rule] = {}
    for path, tree in trees.items():
        local = {**everywhere, **_rule_parameters(tree)}
        classes = _classes(tree)
        module = ".".join(path.relative_to(package).with_suffix("").parts)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _called(node)
            position, severity_at = local.get(name, (None, None))
            rule = _literal(_argument(node, "rule", position))
            if not rule:
                continue
            if name == "__init__":  # super().__init__(..., rule=...) in an error class: the class raises it
                name = classes.get(node.lineno, name)
            severity = _literal(_argument(node, "severity", severity_at)) or "error"
            _merge(
                found,
                Rule(
                    rule=rule,
                    source=f"plugins/gp_allocations/{path.relative_to(package)}",
                    severity=severity,
                    checks="",
                    stage=_stage(module),
                    raised_by=[name],
                    message=_message(node, last=not _called(node)[:1].isupper()),
                ),
            )
    return sorted(found.values(), key=lambda r: (r.source, r.rule))


def reconciliation_checks(module: Path = PACKAGE / "checks.py") -> list[str]:
    """Every reconciliation check of the engine as written (the first argument of each ``_row(...)`` in
    checks.py, ``{...}`` where a variant, level or line goes); each is a gate (``checks.enforce``)."""
    tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and _called(n) == "_row"]
    return sorted(dict.fromkeys(m for m in (_message(n) for n in calls) if m), key=lambda m: (m.lower(), m))


def all_rules() -> list[Rule]:
    return data_rules() + code_rules()


def rule_ids(rules: Iterable[Rule]) -> set[str]:
    return {r.rule for r in rules}
