"""The compare mode's presets: the b sweep's lrs come from a finished study in the cache when
there is one for this data (read, never trained), else from the copied table."""

from __future__ import annotations

from sgdlab.playground.presets import STUDY_LRS, presets, study_lrs
from sgdlab.study import StudySpec
from sgdlab.study.protocol import FULL
from sgdlab.study.run import run_passes


def test_without_a_study_cache_the_copied_lrs(sample, tmp_path):
    assert study_lrs(sample, cache_dir=tmp_path / "none") == STUDY_LRS
    sweep = presets(len(sample.train_labels))["b_sweep"]
    assert [r.get("batch-size", "full") for r in sweep] == [1, 16, 128, "full"]  # 1024 > 1000
    assert [r["lr"] for r in sweep] == [STUDY_LRS[b] for b in (1, 16, 128, "full")]


def test_a_finished_study_gives_its_chosen_lrs(sample, tmp_path):
    spec = StudySpec.quick()
    ran = run_passes(spec, data=sample, cache_dir=tmp_path, workers=1, progress=False)
    lrs = study_lrs(sample, cache_dir=tmp_path)
    studied = [b for b in STUDY_LRS if (FULL if b == "full" else b) in spec.batch_sizes]
    assert studied == [1, 16, "full"]
    for b in STUDY_LRS:
        row = ran.rows[("sgd", b)] if b in studied else None
        want = row.best("train_cost") if row is not None else STUDY_LRS[b]
        assert lrs[b] == want, b
    assert any(lrs[b] != STUDY_LRS[b] for b in studied)  # the cache, not the table
    sweep = presets(len(sample.train_labels), lrs)["b_sweep"]
    assert {r.get("batch-size", "full"): r["lr"] for r in sweep}[16] == lrs[16]
