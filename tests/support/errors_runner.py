"""Run the bad inputs of :mod:`errors_cases` and :mod:`errors_options` through the sgdlab CLI
and render ``docs/errors.md`` from what the user saw.

``tests/test_errors.py`` runs every case and compares the rendered doc with the file;
``scripts/errors_table.py`` writes it. Each case runs ``sgdlab.cli.main`` in-process in a fresh
scratch directory holding the tiny generated data set ``DATA`` (``sgdlab.data.FILES`` is
pointed at its checksums, exactly as the real table points at the real files), an empty cache
and an empty system directory; mirrors point at a closed loopback port, so nothing leaves the
machine. Paths in the rendered messages are shown as ``DATA``, ``TMP``, the default cache and
``/usr/share/datasets/fashion-mnist``; SHA-256 prefixes as ``<sha256>``.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from errors_cases import BAD_FILES, CHECKPOINT_CASES, DATA_CASES, Case, data_arrays
from errors_inference import INFERENCE_CASES
from errors_options import OPTION_CASES
from idx_files import IMAGES, LABELS, STEMS, files_table, idx_bytes, write_gz
from loopback import closed_port

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "errors.md"

CASES: list[Case] = DATA_CASES + OPTION_CASES
#: every row of the doc, in the order of the tests
ALL: list[Case] = CASES + CHECKPOINT_CASES + INFERENCE_CASES
assert len({c.id for c in ALL}) == len(ALL), "ids"

GROUPS = (
    "Data files",
    "Data location",
    "Option values",
    "Options",
    "Output files",
    "Checkpoints",
    "Weights files",
    "Evaluate and predict",
)


# ----------------------------------------------------------------------------------- runner


@dataclass(frozen=True)
class Outcome:
    code: int
    stderr: str  # shown paths normalized
    changed: tuple[str, ...]  # files created, changed or removed under the scratch dir
    traceback: bool


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        if p.is_file()
        else (-1, 0)
        for p in root.rglob("*")
    }


def _fill(s: str, places: dict[str, Path]) -> str:
    return s.format(**{k: str(v) for k, v in places.items()})


def run_case(case: Case, scratch: Path) -> Outcome:
    """Run ``case`` in the empty directory ``scratch``; return what the user saw."""
    from sgdlab import paths
    from sgdlab.cli.main import main
    from sgdlab.data import fashion as data

    places = {"data": scratch / "data", "tmp": scratch, "file": scratch / "afile"}
    for d in ("data", "cache", "system", "adir.pt", "adir.png", "adir.html"):
        (scratch / d).mkdir()
    (scratch / "afile").write_text("a regular file\n")
    arrays = data_arrays()
    raw = {stem: idx_bytes(a) for stem, a in arrays.items()}
    for stem, content in raw.items():
        write_gz(places["data"] / f"{stem}.gz", content)
    table = files_table(raw)
    if case.setup:
        case.setup(places["data"])
    if case.vouch:
        from sgdlab.data.idx import read_bytes

        table = files_table({s: read_bytes(places["data"] / f"{s}.gz") for s in STEMS})
    mirror = f"https://127.0.0.1:{closed_port()}/"
    env = {
        "SGDLAB_CACHE_DIR": str(scratch / "cache"),
        "SGDLAB_MIRRORS": mirror,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    env.update({k: _fill(v, places) for k, v in case.env.items()})
    argv = [_fill(a, places) for a in case.argv]
    before = _snapshot(scratch)
    err = io.StringIO()
    traceback = False
    with contextlib.ExitStack() as stack:
        caught = stack.enter_context(warnings.catch_warnings(record=True))
        _python_default_warning_filters()
        stack.enter_context(mock.patch("torch.cuda.is_available", return_value=False))
        stack.enter_context(mock.patch.dict(os.environ, env))
        if "SGDLAB_DATA" not in case.env:
            os.environ.pop("SGDLAB_DATA", None)
        stack.enter_context(mock.patch.object(data, "FILES", table))
        stack.enter_context(mock.patch.object(paths, "SYSTEM_DATA_DIR", scratch / "system"))
        stack.enter_context(contextlib.redirect_stderr(err))
        stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except Exception as e:  # what Python would show: a traceback, exit status 1
            traceback = True
            print(f"Traceback (most recent call last): … {type(e).__name__}: {e}", file=err)
            code = 1
    shown = [
        f"{w.category.__name__}: {w.message} ({Path(w.filename).name}:{w.lineno})" for w in caught
    ]
    stderr = "".join(f"{line}\n" for line in dict.fromkeys(shown)) + err.getvalue()
    after = _snapshot(scratch)
    changed = tuple(
        sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    )
    return Outcome(code, normalize(stderr, scratch, mirror), changed, traceback)


def _python_default_warning_filters() -> None:
    """The filters a plain ``python`` starts with (pytest installs its own)."""
    warnings.resetwarnings()
    warnings.simplefilter("default")
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.simplefilter("ignore", category)


def normalize(text: str, scratch: Path, mirror: str) -> str:
    """Replace this run's scratch paths, port and hashes by stable names."""
    text = text.replace(str(scratch / "data"), "DATA")
    text = text.replace(str(scratch / "cache"), "~/.cache/sgdlab/fashion-mnist")
    text = text.replace(str(scratch / "system"), "/usr/share/datasets/fashion-mnist")
    text = text.replace(str(scratch), "TMP")
    text = text.replace(mirror, "https://MIRROR/")
    text = re.sub(r"\b[0-9a-f]{16}…", "<sha256>…", text)
    text = re.sub(r"/\.tmp[A-Za-z0-9_]{6,}\b", "/.tmpXXXXXX", text)  # random temporary names
    return re.sub(r" at 0x[0-9a-f]+", "", text)


def run_in_scratch(case: Case) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="sgdlab-errors-") as d:
        return run_case(case, Path(d))


# ------------------------------------------------------------------------------- rendering


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def command(case: Case) -> str:
    env = "".join(f"{k}={v} " for k, v in case.env.items())
    args = " ".join(a if a and " " not in a else f"'{a}'" for a in case.argv)
    return (
        (env + "sgdlab " + args)
        .replace("{data}", "DATA")
        .replace("{tmp}", "TMP")
        .replace("{file}", "TMP/afile")
    )


def render_row(case: Case, out: Outcome) -> str:
    lines = out.stderr.rstrip("\n").splitlines() or ["(nothing)"]
    shown = "<br>".join(f"`{_cell(line)}`" for line in lines)
    left = "nothing" if not out.changed else ", ".join(f"`{c}`" for c in out.changed)
    what = case.what + (" **(not yet fixed)**" if case.bug else "")
    return f"| {what} | `{_cell(command(case))}` | {shown} | {out.code} | {left} |"


HEADER = """\
# Bad inputs and what the user sees

Generated by `scripts/errors_table.py` from the cases that `tests/test_errors.py` runs; do not
edit by hand (rerun the script). Every row: `sgdlab …` run on a scratch directory (`TMP`) with
a tiny generated data set in `DATA` whose checksums stand in for the official ones, an empty
cache, an empty system directory, no network (the mirror is a closed local port) and no GPU
(CUDA is hidden, so the table is the same on every machine). Python warnings are shown as the
lines a user would see before the error.

The contract: **one line on stderr** naming the bad thing (`sgdlab COMMAND: error: …`),
**exit status 2**, **no traceback**, and **nothing left behind** (the last column lists files
created or changed; "nothing" is the goal). The one planned exception is "Fashion-MNIST not
found", whose error line is followed by the ways to get the data.

How files are checked, in order: the file must exist and decompress (gzip errors name the
file); an IDX header that declares more than 200 MB, or content longer than its header
declares, is refused while reading (nothing big is allocated); then the SHA-256 of the
decompressed bytes must match the official one, which catches every other change (wrong magic,
dtype or dims, other pixels, labels outside 0–9, a short labels file) before parsing. The IDX
parser and the image/label consistency checks behind it are shown in the last table and in the
two "vouching" rows, which use a checksum table made for the damaged files.
"""


def render(outcomes: dict[str, Outcome], reader: list[tuple[str, str]]) -> str:
    parts = [HEADER]
    bugs = [c for c in ALL if c.bug]
    if bugs:
        parts.append("Rows marked **(not yet fixed)** do not meet the contract yet:\n")
        parts += [f"- {c.what}: {c.bug}." for c in bugs]
        parts.append("")
    head = (
        "| Bad input | Command | What the user sees (stderr) | Exit | Left behind |\n"
        "|---|---|---|---|---|"
    )
    for group in GROUPS:
        cases = [c for c in ALL if c.group == group]
        parts.append(f"## {group}\n")
        if not cases:
            parts.append(
                "No rows yet: checkpoint errors (unwritable checkpoint directory, "
                "corrupt or incompatible checkpoint) are being added.\n"
            )
            continue
        parts.append(head)
        parts += [render_row(c, outcomes[c.id]) for c in cases]
        parts.append("")
    parts.append("## The IDX reader on the same files (library: `sgdlab.data.idx.read_idx`)\n")
    parts.append(
        "What `read_idx(path)` raises (`DataFormatError`) for the damaged file of each "
        "row above, without any checksum.\n"
    )
    parts.append("| Bad file | `DataFormatError` message |\n|---|---|")
    parts += [f"| {what} | `{_cell(msg)}` |" for what, msg in reader]
    return "\n".join(parts) + "\n"


def reader_messages() -> list[tuple[str, str]]:
    """``read_idx``'s message for each damaged file of :data:`BAD_FILES` (except missing)."""
    from sgdlab.data.idx import read_idx
    from sgdlab.errors import DataFormatError

    rows = []
    for what, setup in BAD_FILES:
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            for stem, arr in data_arrays().items():
                write_gz(root / f"{stem}.gz", idx_bytes(arr))
            setup(root)
            stem = LABELS if "label" in what else IMAGES
            try:
                read_idx(root / f"{stem}.gz")
                msg = "(accepted: the IDX structure is valid; only the checks above refuse it)"
            except DataFormatError as e:
                msg = str(e).replace(d, "DIR")
        rows.append((what, msg))
    return rows


def generate() -> str:
    """The text of docs/errors.md: every case run, then rendered."""
    outcomes = {c.id: run_in_scratch(c) for c in ALL}
    return render(outcomes, reader_messages())
