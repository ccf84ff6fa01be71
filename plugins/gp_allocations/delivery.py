"""E-mail delivery of published sub-ICB workbooks to finance distribution lists (smtplib).

Works only from a published run folder (its manifest says which file belongs to which sub-ICB and
gives each file's SHA-256, checked again before sending). The DAG builds ``SmtpSettings`` from an
Airflow connection; nothing here imports Airflow.
"""

from __future__ import annotations

import json
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

from .errors import PublishError
from .manifest import MANIFEST
from .publish import check_component, sha256_of

XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@dataclass
class SmtpSettings:
    host: str
    port: int = 587
    user: str | None = None
    password: str | None = None
    starttls: bool = True
    sender: str = "gp-allocations@localhost"
    timeout: float = 30.0

    def __repr__(self) -> str:  # never print the password into a task log
        return (
            f"SmtpSettings(host={self.host!r}, port={self.port}, user={self.user!r}, "
            f"starttls={self.starttls}, sender={self.sender!r})"
        )


def _message(
    smtp: SmtpSettings, to: str, entry: dict[str, Any], manifest: dict[str, Any], data: bytes, name: str
) -> EmailMessage:
    code = entry["sub_icb_code"]
    sub_name = manifest.get("totals", {}).get("sub_icb", {}).get(code, {}).get("name", code)
    period = manifest.get("period_label") or manifest.get("period", "")
    msg = EmailMessage()
    msg["Subject"] = f"GP allocations {period}: {sub_name} ({code})"
    msg["From"] = smtp.sender
    msg["To"] = to
    msg["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2] or "localhost")
    msg.set_content(
        f"Attached is the GP allocations workbook for {sub_name} ({code}), period {period}.\n\n"
        f"Run: {manifest.get('run_id')}\nParameter set: {manifest.get('parameter_set')}\n"
        f"Validation: {manifest.get('validation', {}).get('status')}\n"
        f"File: {name}\nSHA-256: {entry['sha256']}\n\n"
        "Every figure is computed in whole pennies; the Notes sheet explains the method.\n"
    )
    msg.add_attachment(data, maintype=XLSX_TYPE[0], subtype=XLSX_TYPE[1], filename=name)
    return msg


def deliver_workbooks(
    published_dir: Path, recipients: dict[str, str], smtp: SmtpSettings
) -> list[dict[str, Any]]:
    """E-mail each sub-ICB workbook of a published run to its address; one message per sub-ICB.

    Returns one record per sub-ICB workbook: sub_icb_code, file, to, sha256, status ('sent' |
    'no recipient'), message_id. A recipient whose sub-ICB has no workbook in the run is an error,
    as is a file whose bytes no longer match the manifest.
    """
    folder = Path(published_dir)
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    entries = {e["sub_icb_code"]: e for e in manifest["files"] if e.get("kind") == "sub_icb"}
    unknown = sorted(set(recipients) - set(entries))
    if unknown:
        raise PublishError(
            f"recipients given for sub-ICBs with no workbook in this run: {', '.join(unknown)}"
        )
    outcomes: list[dict[str, Any]] = []
    pending: list[tuple[dict[str, Any], EmailMessage]] = []
    for code in sorted(entries):
        entry = entries[code]
        name = check_component(entry["name"], "file name")
        record = {
            "sub_icb_code": code,
            "file": name,
            "to": recipients.get(code),
            "sha256": entry["sha256"],
            "status": "no recipient",
            "message_id": None,
        }
        outcomes.append(record)
        if not recipients.get(code):
            continue
        path = folder / name
        data = path.read_bytes()
        if sha256_of(path) != entry["sha256"]:
            raise PublishError(f"{name} does not match its SHA-256 in the manifest; not sending")
        msg = _message(smtp, recipients[code], entry, manifest, data, name)
        record["message_id"] = msg["Message-ID"]
        pending.append((record, msg))
    if not pending:
        return outcomes
    with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as server:
        if smtp.starttls:
            server.starttls(context=ssl.create_default_context())
        if smtp.user:
            server.login(smtp.user, smtp.password or "")
        for record, msg in pending:
            server.send_message(msg)
            record["status"] = "sent"
    return outcomes
