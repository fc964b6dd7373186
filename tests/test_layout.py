"""The source tree's layout, as ``scripts/import_cycles.py`` checks it: no import cycles, no
library module importing the CLI, no source file over 400 lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "import_cycles.py"


def _check(name: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--only", name], capture_output=True, text=True, timeout=60
    )


def test_no_import_cycles():
    out = _check("cycles")
    assert out.returncode == 0 and out.stdout.strip() == "no import cycles", out.stdout + out.stderr


def test_no_library_module_imports_the_cli():
    out = _check("cli")
    assert out.returncode == 0, out.stdout + out.stderr


def test_no_source_file_over_400_lines():
    out = _check("size")
    long = {
        line.split(": ", 1)[1].rsplit(" (", 1)[0]
        for line in out.stdout.splitlines()
        if line.startswith("over ")
    }
    assert not long and out.returncode == 0, out.stdout + out.stderr


def test_the_script_sees_lazy_imports_and_reports_cycles(tmp_path):
    """A cycle made by an import inside a function, through ``from pkg import module``."""
    pkg = tmp_path / "src" / "sgdlab"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "a.py").write_text("from sgdlab.sub import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from sgdlab.sub import a\n")
    (pkg / "lib.py").write_text("import sgdlab.cli.x\n")
    (pkg / "cli").mkdir()
    (pkg / "cli" / "__init__.py").write_text("")
    (pkg / "cli" / "x.py").write_text("from sgdlab import lib\n")
    code = (
        "import runpy, sys; from pathlib import Path; "
        f"m = runpy.run_path({str(SCRIPT)!r}); "
        f"lines, problems = m['report'](src=Path({str(tmp_path / 'src')!r})); "
        "print('\\n'.join(lines)); print(problems)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    lines = out.stdout.splitlines()
    assert "import cycle among 2 modules: sgdlab.sub.a, sgdlab.sub.b" in lines, out.stderr
    assert "    sgdlab.sub.a -> sgdlab.sub.b  (src/sgdlab/sub/a.py:1)" in lines
    assert "    sgdlab.sub.b -> sgdlab.sub.a  (src/sgdlab/sub/b.py:2)" in lines
    assert any(line.startswith("library module imports the CLI: sgdlab.lib") for line in lines)
    # lib -> cli.x -> lib is a cycle too
    assert "import cycle among 2 modules: sgdlab.cli.x, sgdlab.lib" in lines
    assert lines[-1] == "3"
