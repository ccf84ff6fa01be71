"""PDFs of workbooks through LibreOffice headless (``soffice --convert-to pdf``).

Each conversion gets its own LibreOffice user profile (a temporary folder), so mapped tasks converting
at the same time never share one (a shared profile makes a second soffice hand its job to the first
or fail). The profile recalculates every formula on load: the PDF shows what LibreOffice computes,
not the cached values. A conversion that outlives its timeout is killed with everything it started.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from .errors import PublishError

#: seconds one conversion may take before it is killed (a sub-ICB's statements take a few seconds)
DEFAULT_TIMEOUT_SECONDS = 300.0

# LibreOffice trusts the cached values of files that say Excel wrote them; "always recalculate on load"
ALWAYS_RECALC = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load"><prop oor:name="OOXMLRecalcMode" oor:op="fuse">
<value>0</value></prop></item>
</oor:items>
"""


def soffice() -> str:
    """The LibreOffice executable, or a PublishError saying how to install it (or do without)."""
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if not exe:
        raise PublishError(
            "LibreOffice is not installed (no 'soffice' on PATH), so the statement PDFs cannot be made: "
            "install libreoffice-calc, or publish without them (unset GP_ALLOC_STATEMENT_PDFS)"
        )
    return exe


def convert_to_pdf(source: Path, target: Path, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
    """Convert the workbook ``source`` to the PDF ``target`` (written whole or not at all)."""
    exe = soffice()
    target = Path(target)
    with tempfile.TemporaryDirectory(prefix=".soffice-", dir=target.parent) as work:
        profile, out = Path(work) / "profile", Path(work) / "out"
        (profile / "user").mkdir(parents=True)
        (profile / "user" / "registrymodifications.xcu").write_text(ALWAYS_RECALC, encoding="utf-8")
        command = [
            exe,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--nologo",
            "--convert-to",
            "pdf",
            "--outdir",
            str(out),
            str(source),
        ]
        env = {**os.environ, "HOME": str(profile)}
        proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group: a timeout kills soffice.bin too
        )
        try:
            _, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise PublishError(
                f"LibreOffice took longer than {timeout:.0f} s to make {target.name} and was stopped; "
                "nothing was published"
            ) from None
        made = out / f"{Path(source).stem}.pdf"
        if proc.returncode != 0 or not made.is_file() or made.stat().st_size == 0:
            detail = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no message"]
            raise PublishError(
                f"LibreOffice could not make {target.name} (exit status {proc.returncode}: {detail[0]}); "
                "nothing was published"
            )
        os.replace(made, target)
