"""Write docs/bad-inputs.md from the catalogue."""

from bad_inputs import DOC, load_cases, render_doc

DOC.write_text(render_doc(load_cases()), encoding="utf-8")
print(f"wrote {DOC}")
