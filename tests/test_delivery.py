"""E-mail delivery against a real SMTP server on localhost (aiosmtpd)."""

from __future__ import annotations

import email
from email import policy

import pytest

from _publishing import publish_result
from _support import smtp_server as local_smtp_server
from _workbook_fixtures import make_result, make_run
from gp_allocations.delivery import SmtpSettings, deliver_workbooks
from gp_allocations.errors import PublishError

PERIOD = "2025-26-Q2"


@pytest.fixture
def smtp_server():
    with local_smtp_server() as (inbox, port):
        yield (
            inbox,
            SmtpSettings(host="127.0.0.1", port=port, starttls=False, sender="gp-allocations@example.nhs.uk"),
        )


@pytest.fixture
def published(tmp_path):
    return publish_result(make_result(), make_run(), tmp_path, period_slug=PERIOD, run_id="run-1").directory


def test_each_sub_icb_gets_its_workbook(smtp_server, published):
    inbox, settings = smtp_server
    recipients = {"15N": "devon.finance@example.nhs.uk", "15C": "bnssg.finance@example.nhs.uk"}
    outcome = deliver_workbooks(published, recipients, settings)
    assert [(o["sub_icb_code"], o["status"], o["to"]) for o in outcome] == [
        ("15C", "sent", "bnssg.finance@example.nhs.uk"),
        ("15N", "sent", "devon.finance@example.nhs.uk"),
    ]
    assert len(inbox.envelopes) == 2
    by_rcpt = {env.rcpt_tos[0]: env for env in inbox.envelopes}
    for code, address in recipients.items():
        env = by_rcpt[address]
        assert env.mail_from == "gp-allocations@example.nhs.uk"
        msg = email.message_from_bytes(env.original_content, policy=policy.default)
        assert code in msg["Subject"] and "2025/26 Q2" in msg["Subject"]
        attachments = list(msg.iter_attachments())
        assert len(attachments) == 1
        name = f"gp-allocations_{PERIOD}_{code}.xlsx"
        assert attachments[0].get_filename() == name
        assert attachments[0].get_content() == (published / name).read_bytes()  # byte for byte
    devon = email.message_from_bytes(
        by_rcpt["devon.finance@example.nhs.uk"].original_content, policy=policy.default
    )
    assert "NHS Devon ICB - 15N" in devon["Subject"]


def test_missing_recipient_is_reported_not_sent(smtp_server, published):
    inbox, settings = smtp_server
    outcome = deliver_workbooks(published, {"15N": "devon.finance@example.nhs.uk"}, settings)
    assert {o["sub_icb_code"]: o["status"] for o in outcome} == {"15C": "no recipient", "15N": "sent"}
    assert [env.rcpt_tos for env in inbox.envelopes] == [["devon.finance@example.nhs.uk"]]


def test_unknown_sub_icb_and_tampered_file_send_nothing(smtp_server, published):
    inbox, settings = smtp_server
    with pytest.raises(PublishError, match="99X"):
        deliver_workbooks(published, {"99X": "x@example.nhs.uk"}, settings)
    (published / f"gp-allocations_{PERIOD}_15N.xlsx").write_bytes(b"changed after publishing")
    with pytest.raises(PublishError, match="SHA-256"):
        deliver_workbooks(published, {"15N": "devon.finance@example.nhs.uk"}, settings)
    assert inbox.envelopes == []


def test_settings_repr_hides_password():
    settings = SmtpSettings(host="smtp.example", port=587, user="u", password="s3cret", sender="a@b")
    assert "s3cret" not in repr(settings)
