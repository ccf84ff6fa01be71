"""Publishing an allocation in tests through the production pieces, as the DAG's publish tasks do:
one staged workbook per sub-ICB location, the national workbook, the manifest, then ``finalise_run``.

(The one orchestration in the package is ``pipeline.stage_publish``, which also needs a run's hand-off
folders; these tests start from an ``Allocation`` in memory.)
"""

from __future__ import annotations

import dataclasses
import shutil
from dataclasses import dataclass
from pathlib import Path

from gp_allocations import bridge
from gp_allocations import publish as pub
from gp_allocations.errors import PublishError
from gp_allocations.manifest import build_manifest


@dataclass
class PublishedRun:
    directory: Path
    manifest: dict
    status: str


def publish_result(
    result,
    run,
    output_root: Path,
    *,
    period_slug: str,
    run_id: str,
    sub_icb_codes: list[str] | None = None,
    skip_unchanged: bool = False,
) -> PublishedRun:
    root = Path(output_root)
    pub.check_component(period_slug, "period")
    codes = sorted(sub_icb_codes) if sub_icb_codes is not None else result.sub_icb_codes
    for code in codes:
        pub.check_component(code, "sub-ICB code")
    staging = pub.stage_dir(root, period_slug, run_id)
    shutil.rmtree(staging)
    staging.mkdir(parents=True)
    if not run.comparisons:  # as stage_publish_prepare does: against the earlier publications under root
        run = dataclasses.replace(run, comparisons=bridge.comparisons(result, root))
    try:
        files = [pub.stage_sub_icb_workbook(result, run, staging, c, period_slug=period_slug) for c in codes]
        files.append(pub.stage_national_workbook(result, run, staging, period_slug=period_slug))
        files.append(pub.stage_practice_facts(result, staging))
        manifest = build_manifest(result, run, files, period_slug=period_slug, run_id=run_id)
        outcome = pub.finalise_run(
            staging, root, period_slug, run_id, manifest, skip_unchanged=skip_unchanged
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PublishedRun(outcome.directory, outcome.manifest, outcome.status)


__all__ = ["PublishError", "PublishedRun", "publish_result"]
