"""notebooks/sgd-walkthrough.ipynb: committed without outputs, in sync with its generator, uses
only sgdlab's public names, and runs top to bottom (on the bundled sample) in a kernel of this
very interpreter: its contamination check prints a verdict, and every printed sentence about a
measured number agrees with the number printed with it."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import re
import runpy
import sys
import time
from pathlib import Path

import pytest

import sgdlab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "sgd-walkthrough.ipynb"
PUBLIC = frozenset(sgdlab.__all__)


def cells(kind: str) -> list[str]:
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    return ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == kind]


def one_cell(marker: str) -> str:
    found = [c for c in cells("code") if marker in c]
    assert len(found) == 1, f"{len(found)} code cells contain {marker!r}"
    return found[0]


def non_public_uses(source: str, public: frozenset[str] = PUBLIC) -> list[str]:
    """Every use of sgdlab in ``source`` that is not a name of ``sgdlab.__all__``: imports of
    its submodules, ``from sgdlab import`` of other names, ``sgdlab.NAME`` (under any alias)
    for other names, and module paths ``"sgdlab.x"`` in strings (importlib)."""
    bad, aliases = [], set()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name == "sgdlab":
                    aliases.add(a.asname or "sgdlab")
                elif a.name.startswith("sgdlab."):
                    bad.append(f"import {a.name}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sgdlab":
            if node.module != "sgdlab" or node.level:
                bad.append(f"from {node.module} import ...")
            else:
                bad += [f"from sgdlab import {a.name}" for a in node.names if a.name not in public]
        elif isinstance(node, ast.Constant) and re.fullmatch(r"sgdlab(\.\w+)+", str(node.value)):
            bad.append(f"{node.value!r} in a string")
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr not in public
        ):
            bad.append(f"{node.value.id}.{node.attr}")
    return bad


def test_committed_without_outputs():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert len(code) >= 7
    for c in code:
        assert c["outputs"] == [] and c["execution_count"] is None, c["source"][:60]
    assert "FULL_DATA = False" in "".join(code[0]["source"])


def test_notebook_is_the_generators_output():
    gen = runpy.run_path(str(ROOT / "scripts" / "make_notebook.py"))
    assert NOTEBOOK.read_text(encoding="utf-8") == gen["text"](), (
        "run: python scripts/make_notebook.py"
    )


def test_notebook_uses_only_public_names():
    """Every code cell imports sgdlab's names from ``sgdlab.__all__`` only; the prose names no
    other ``sgdlab.`` attribute either."""
    code = cells("code")
    assert any("import sgdlab" in c for c in code)
    for c in code:
        assert non_public_uses(c) == [], c[:80]
    for text in cells("markdown"):
        named = set(re.findall(r"\bsgdlab\.(\w+)", text)) - {"__all__"}
        assert named <= PUBLIC, (sorted(named - PUBLIC), text[:80])


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("from sgdlab.measure.bench import benchmark", ["from sgdlab.measure.bench import ..."]),
        ("import sgdlab.plots", ["import sgdlab.plots"]),
        ("import sgdlab\nsgdlab.measure.bench.benchmark(ds)", ["sgdlab.measure"]),
        ("import sgdlab as s\ns.study.run_study()", ["s.study"]),
        ("from sgdlab import train, load", ["from sgdlab import load"]),
        (
            "import importlib\nimportlib.import_module('sgdlab.plots')",
            ["'sgdlab.plots' in a string"],
        ),
        ("import sgdlab\nfrom sgdlab import train\nsgdlab.benchmark(sgdlab.load_dataset())", []),
    ],
)
def test_public_name_check_flags_internal_uses(source, flagged):
    assert non_public_uses(source) == flagged


#: a sentence of the interpretation cell of exercise 4, and its summary per engine
ROW = re.compile(
    r"^engine (\S+), b = (\d+): GD/SGD = ([\d,]+\.\d) is (far below|below|equal to|above|"
    r"far above) N/b = ([\d,]+\.\d)$",
    re.M,
)
SUMMARY = re.compile(
    r"^engine (\S+): at b = (\d+), GD/SGD is ([a-z ]+?) N/b: per sample, an SGD step costs "
    r"([\d,]+\.\d) ns and a GD iteration ([\d,]+\.\d) ns(.*)$",
    re.M,
)
TABLE = re.compile(r"^  SGD b=\s*(\d+): .*GD/SGD = ([\d,]+\.\d), N/b = ([\d,]+\.\d)", re.M)


def _num(s: str) -> float:
    return float(s.replace(",", ""))


def expected_word(ratio: float, nb: float) -> str:
    """The comparison the notebook announces: below/above, 'far' by more than a factor 2."""
    q = ratio / nb
    if q == 1:
        return "equal to"
    if q < 1:
        return "far below" if q < 0.5 else "below"
    return "far above" if q > 2 else "above"


def check_timing_verdict(text: str) -> dict[tuple[str, int], tuple[float, float]]:
    """The output of exercise 4's interpretation cell: exactly one contamination verdict; when
    contaminated, no interpretation at all; otherwise every sentence's word agrees with its two
    numbers, and every summary with its row and its per-sample costs. Returns the rows."""
    verdicts = [ln for ln in text.splitlines() if ln.startswith("Contamination check: ")]
    assert len(verdicts) == 1, text
    rows = {(e, int(b)): (_num(r), w, _num(nb)) for e, b, r, w, nb in ROW.findall(text)}
    summaries = SUMMARY.findall(text)
    if "CONTAMINATED" in verdicts[0]:
        assert "No interpretation" in verdicts[0]
        assert rows == {} and summaries == [] and "GD/SGD" not in text
        return {}
    assert rows and summaries, text
    for (engine, b), (ratio, word, nb) in rows.items():
        assert word == expected_word(ratio, nb), (engine, b, ratio, word, nb)
    for engine, b, word, sgd_ns, gd_ns, why in summaries:
        assert word == rows[engine, int(b)][1], (engine, b, word)
        if "below" in word:  # GD/SGD < N/b  <=>  GD costs less per sample than SGD
            assert _num(gd_ns) <= _num(sgd_ns) and "GD costs more" not in why
        if "above" in word:
            assert _num(gd_ns) >= _num(sgd_ns) and "below N/b" not in why
        if "keeps GD/SGD below N/b" in why:
            assert "below" in word
    return {k: (v[0], v[2]) for k, v in rows.items()}


def fake_timing(share: float | None, rows: list[tuple[int, float, float]]) -> dict:
    """A benchmark result with the fields the interpretation cell reads: engine 'reference',
    rows (b, GD/SGD, N/b), GD at 10 ns per sample, a fitted fixed cost per step of 80% of the
    first row's step."""
    gd_ps, sgd = 1e-8, []
    for b, ratio, nb in rows:
        per_sample = gd_ps * nb / ratio  # GD/SGD = N/b · (GD per sample)/(SGD per sample)
        sgd.append(
            {
                "batch_size": b,
                "ratio_gd_over_sgd_measured": ratio,
                "ratio_flops": nb,
                "per_iteration": {"median": per_sample * b},
                "per_sample_seconds": per_sample,
            }
        )
    engine = {
        "engine": "reference",
        "sgd": sgd,
        "gd": {"per_sample_seconds": gd_ps},
        "overhead_fit": {
            "overhead_seconds": 0.8 * sgd[0]["per_iteration"]["median"],
            "seconds_per_sample": gd_ps,
        },
    }
    return {"environment": {"machine_load": {"other_cpu_share": share}}, "results": [engine]}


def run_timing_verdict(timing: dict) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(
            one_cell("sgdlab.contamination(timing)"),
            {"sgdlab": sgdlab, "timing": timing, "N": 1000},
        )
    return out.getvalue()


@pytest.mark.parametrize("share", [0.06, 0.5])
def test_contaminated_timings_are_not_interpreted(share):
    text = run_timing_verdict(fake_timing(share, [(1, 120.0, 1000.0), (16, 40.0, 62.5)]))
    assert f"CONTAMINATED: other processes used {share:.0%}" in text
    assert check_timing_verdict(text) == {}


@pytest.mark.parametrize("share", [0.01, None])
def test_clean_timings_are_read_from_their_numbers(share):
    rows = [(1, 1106.0, 1000.0), (16, 40.0, 62.5), (256, 3.0, 3.9), (1000, 2.5, 1.0)]
    text = run_timing_verdict(fake_timing(share, rows))
    assert ("clean" if share is not None else "not measurable") in text.splitlines()[0]
    got = check_timing_verdict(text)
    assert got == {("reference", b): (r, nb) for b, r, nb in rows}
    assert "engine reference, b = 1: GD/SGD = 1,106.0 is above N/b = 1,000.0" in text
    assert "b = 16: GD/SGD = 40.0 is below N/b = 62.5" in text
    assert "b = 1000: GD/SGD = 2.5 is far above N/b = 1.0" in text
    assert "GD costs more per sample here" in text  # b = 1 is above N/b: no overhead story


def test_a_fixed_cost_story_only_below_n_over_b():
    text = run_timing_verdict(fake_timing(0.0, [(1, 300.0, 1000.0), (16, 50.0, 62.5)]))
    check_timing_verdict(text)
    assert "at b = 1, GD/SGD is far below N/b" in text
    assert "80% of the b = 1 step; GD pays it once per 1,000 samples" in text
    assert "that fixed cost is what keeps GD/SGD below N/b here." in text


def test_the_sentence_check_catches_a_contradiction():
    """The notebook's old sentence, "far below N/b" while printing 1106 against 1000, fails."""
    text = run_timing_verdict(fake_timing(0.0, [(1, 1106.0, 1000.0)]))
    wrong = text.replace("is above N/b", "is far below N/b")
    with pytest.raises(AssertionError):
        check_timing_verdict(wrong)
    with pytest.raises(AssertionError):  # no verdict printed
        check_timing_verdict(text.replace("Contamination check: ", ""))


def check_likelihood_sentences(text: str) -> None:
    """Exercise 5: the sentences about underflow, the 1/√b slope and the ∇L estimate agree with
    the figures printed next to them."""
    nc = _num(re.search(r"N·C = ([\d,]+\.\d) nats, log10 L", text).group(1))
    for name in ("float32", "float64"):
        value = float(re.search(rf"^{name}: exp\(-N\*C\) = (\S+),", text, re.M).group(1))
        said = re.search(
            rf"^In {name}, L computed directly is (.+?)[:,] .*?N·C = ([\d,]+\.\d) nats is "
            r"(above|not above) ([\d.]+),",
            text,
            re.M,
        )
        assert said, name
        assert (said.group(1) == "exactly 0") == (value == 0), (name, value, said.group(0))
        assert _num(said.group(2)) == nc
        assert (said.group(3) == "above") == (nc > float(said.group(4))), said.group(0)
    moved = re.search(r"^ascent on L moved: (True|False)", text, re.M).group(1) == "True"
    assert ("moved the weights" in text) == moved
    before, after = (float(v) for v in re.search(r"descent on C: (\S+) -> (\S+)", text).groups())
    if after != before:  # as printed
        assert ("; one descent step on C lowered C." in text) == (after < before)
    slope, side = re.search(r"∇C: the fitted slope (-?[\d.]+) is (within|outside)", text).groups()
    assert (side == "within") == (abs(float(slope) + 0.5) <= 0.05), (slope, side)
    best, worst, verdict = re.search(
        r"∇L: .* is 10\^(-?[\d.]+) at best .* and 10\^(-?[\d.]+) at worst .*?: (.+)$", text, re.M
    ).groups()
    assert float(best) <= float(worst)
    word = "more than" if float(best) > 1 else "about" if float(best) == 1 else "less than"
    assert verdict.startswith(f"{word} 10 times |∇L| itself at "), (best, verdict)


def test_notebook_executes_on_the_sample(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    # a kernel spec for this interpreter, with sgdlab's source first on its path
    spec = tmp_path / "jupyter" / "kernels" / "sgdlab-test"
    spec.mkdir(parents=True)
    path = os.pathsep.join(p for p in (str(ROOT / "src"), os.environ.get("PYTHONPATH")) if p)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "sgdlab test",
                "language": "python",
                "env": {
                    "PYTHONPATH": path,
                    "MPLBACKEND": "Agg",
                    "SGDLAB_EXPERIMENT_CACHE": str(tmp_path / "experiments"),
                },
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, kernel_name="sgdlab-test", timeout=300, resources={"metadata": {"path": str(tmp_path)}}
    )
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError on the first cell that fails
    seconds = time.perf_counter() - t0
    print(f"\nnotebook executed in {seconds:.1f} s")
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert errors == []
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "bundled sample" in text and "ascent on L moved: False" in text

    def printed(marker: str) -> str:
        (cell,) = (c for c in nb.cells if c.cell_type == "code" and marker in c.source)
        return "".join(o.get("text", "") for o in cell.outputs)

    # exercise 4: the verdict printed; clean timings read as printed in the table above them
    table = printed("timing = benchmark(")
    said = check_timing_verdict(printed("sgdlab.contamination(timing)"))
    if said:
        engines = re.split(r"^engine (\S+): one GD iteration", table, flags=re.M)[1:]
        rows = {
            (engine, int(b)): (_num(ratio), _num(flops))
            for engine, part in zip(engines[::2], engines[1::2], strict=True)
            for b, ratio, flops in TABLE.findall(part)
        }
        assert said == rows
    check_likelihood_sentences(text)
    images = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    # grid, gradients, timing, likelihood, estimators; the study's steps and examples to target
    assert len(images) == 7
    verdicts = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "Verdict" in o.get("data", {}).get("text/markdown", "")
    ]
    assert len(verdicts) == 1
    assert list((tmp_path / "experiments").glob("*.json"))  # the study's passes were cached
