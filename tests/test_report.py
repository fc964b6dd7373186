"""sgdlab report: one self-contained page per language, every section present, cached."""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path

import pytest

from sgdlab.cli.main import main
from sgdlab.report.build import SCHEMA, SECTIONS, build_report, cache_key
from sgdlab.report.page import rich
from sgdlab.report.sections import Options, convergence_identity
from sgdlab.report.text import EN, HE
from sgdlab.study import SCHEMA as STUDY_SCHEMA
from sgdlab.study import StudySpec

PNG = b"\x89PNG\r\n\x1a\n"


def test_both_languages_have_the_same_strings():
    assert EN.keys() == HE.keys()
    # every value the Hebrew page shows, the English one shows too (Hebrew words some in prose)
    for k in EN:
        assert set(re.findall(r"\$(\w+)", HE[k])) <= set(re.findall(r"\$(\w+)", EN[k])), k


@pytest.mark.parametrize("lang", ["en", "he"])
def test_quick_page_is_self_contained(quick_reports, lang):
    path, rep = quick_reports[lang]
    html = path.read_text(encoding="utf-8")
    root = re.search(r"<html [^>]*>", html).group(0)
    assert f'lang="{lang}"' in root and f'dir="{"rtl" if lang == "he" else "ltr"}"' in root
    srcs = re.findall(r'<img src="([^"]+)"', html)
    # grid, gradients, timing, underflow, estimators; the study's steps and examples to target,
    # its tuned lr and its noise scales
    assert len(srcs) == len(FIGURES) == 9
    narrow = re.findall(r'<source media="\(max-width: \d+px\)" srcset="([^"]+)"', html)
    assert len(narrow) == 7  # every figure with several panels, drawn again for a phone
    for src in srcs + narrow:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG
    # nothing is fetched: no http(s) URL in any src/href, no script
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html
    for anchor in ("ex1", "ex23", "ex4", "ex5", "convergence", "environment"):
        assert f'id="{anchor}"' in html
    assert html.count("<section") == html.count("</section>")


def test_quick_page_content(quick_reports, sample):
    html = quick_reports["en"][0].read_text(encoding="utf-8")
    assert "not the full data set" in html  # the sample is flagged
    assert "Ankle boot" in html and "2.3026" in html  # class names; C = log 10 before a step
    assert "Fitted S = S_min(1 + B_crit/b)" in html  # the batch-size study's verdict
    for h in sample.sha256.values():
        assert h in html
    he = quick_reports["he"][0].read_text(encoding="utf-8")
    assert "מורד הגרדיאנט המקרי" in he and "פונקציית הנראות" in he and "ערכי seed" in he
    assert '<code dir="ltr">' in he  # code and formulas stay left to right


def test_quick_page_shows_the_batch_size_study(quick_reports):
    """The convergence section: the quick study's table per optimizer and target, its fits next
    to the noise scales, every verdict sentence, in both languages."""
    for lang in ("en", "he"):
        path, rep = quick_reports[lang]
        page = path.read_text(encoding="utf-8")
        cached = Path(rep.sections["convergence"]["cache_file"]).read_text()
        res = json.loads(cached)["content"]["result"]
        spec = json.loads(json.dumps(StudySpec.quick().to_dict()))
        assert res["spec"] == spec
        assert set(res["figures"]) == {"steps", "examples", "lr", "noise"}
        conv = page[page.index('id="convergence"') : page.index('id="environment"')]
        assert conv.count("<h3>") == 2 * len(res["spec"]["optimizers"])  # a table for each
        for r in res["scaling"]:
            if r["steps"] is not None:
                assert f"{r['lr']:.4g}" in conv and f"{r['examples']:,.0f}" in conv
        for per in res["fit"].values():
            for f in per.values():
                assert f"{f['B_crit']:,.0f} [{f['B_crit_ci'][0]:,.0f}–" in conv
        at = next(r for r in res["noise"]["rows"] if r["at_target"])
        assert f"{at['B_noise']:,.0f} / {at['B_simple']:,.0f}" in conv
        verdict = res["verdict"] if lang == "en" else res["verdict_he"]
        assert len(verdict) == len(res["verdict"])  # the same sentences in either language
        for sentence in verdict:
            assert f"<li>{html.escape(sentence)}</li>" in conv
        if lang == "he":  # Hebrew words, right to left, and the same numbers as in English
            assert '<div class="verdict" lang="he">' in conv
            assert all(re.search("[\u0590-\u05ff]", v) for v in verdict)
            for en, he in zip(res["verdict"], verdict, strict=True):
                assert re.findall(r"\d[\d,.]*", en) == re.findall(r"\d[\d,.]*", he), en


#: Every figure of the page, by its id (``Page.fig``'s anchor).
FIGURES = (
    "fig-minibatch",
    "fig-gradients",
    "fig-timing",
    "fig-underflow",
    "fig-estimators",
    "fig-steps",
    "fig-examples",
    "fig-lr",
    "fig-noise",
)


@pytest.mark.parametrize("lang", ["en", "he"])
def test_every_figure_the_text_refers_to_is_on_the_page(quick_reports, lang):
    """Links to figures resolve; no "the 2-D illustration" or "the noise figure" without its
    figure; captions name panels by letter ((a), (b)), never by side: on a phone they stack."""
    page = quick_reports[lang][0].read_text(encoding="utf-8")
    ids = set(re.findall(r'\bid="([^"]+)"', page))
    assert set(FIGURES) <= ids
    assert re.findall(r'<figure id="([^"]+)"', page) == list(FIGURES)
    links = re.findall(r'href="#([^"]+)"', page)
    assert {"fig-lr", "fig-noise"} <= set(links)  # the text points at the study's figures
    assert set(links) <= ids, set(links) - ids
    text = re.sub(r"<[^>]+>", " ", re.sub(r'"data:[^"]+"', "", page))
    assert "illustration" not in text and "איור" not in text
    for cap in re.findall(r"<figcaption>(.*?)</figcaption>", page):
        assert not re.search(r"\((left|right)\)|\b(Left|Right):|משמאל|מימין", cap), cap
    alts = re.findall(r'<img src="[^"]+" alt="([^"]+)"', page)
    assert len(alts) == len(FIGURES) and all(len(a) > 20 for a in alts)
    if lang == "he":  # alt text in Hebrew
        assert all(re.search("[\u0590-\u05ff]", a) for a in alts)


def test_quick_page_says_it_is_quick(quick_reports):
    """The quick page says what it is and how long the full report takes before pointing there;
    contaminated timings point to the quick rebuild, not to a full one."""
    from sgdlab.report.text import FULL_REPORT_TIME

    en = quick_reports["en"][0].read_text(encoding="utf-8")
    assert "Quick report" in en and FULL_REPORT_TIME in en
    assert "sgdlab report --fresh" not in en  # the full rebuild is never the quick page's advice
    assert "דו״ח מהיר" in quick_reports["he"][0].read_text(encoding="utf-8")


def test_gradient_caption_states_the_shared_scale(quick_reports):
    for lang, words in (("en", "One colour scale for every panel"), ("he", "סקאלת צבע אחת")):
        page = quick_reports[lang][0].read_text(encoding="utf-8")
        cap = re.search(r'<figure id="fig-gradients">.*?<figcaption>(.*?)</figcaption>', page)
        assert words in cap.group(1) and "±" in cap.group(1)


def test_convergence_identity_names_the_study(sample):
    quick, full = convergence_identity(Options(quick=True)), convergence_identity(Options())
    assert quick["study"] == StudySpec.quick().to_dict() and full["study"]["name"] == "full"
    assert quick["schema"] == STUDY_SCHEMA and SCHEMA >= 2
    opts = Options(quick=True)
    assert cache_key("convergence", sample, opts, quick) != cache_key(
        "convergence", sample, opts, full
    )


def test_second_report_is_served_from_the_cache(quick_reports, sample, monkeypatch, tmp_path):
    cache = quick_reports["en"][0].parent / "cache"
    assert all(i["cached"] for i in quick_reports["he"][1].sections.values())  # en filled it

    def boom(ds, opts):
        raise AssertionError("recomputed a cached section")

    monkeypatch.setattr("sgdlab.report.build.SECTIONS", {k: boom for k in SECTIONS})
    rep = build_report(sample, quick=True, cache_dir=cache)
    assert set(rep.sections) >= set(SECTIONS) and all(i["cached"] for i in rep.sections.values())
    with pytest.raises(AssertionError, match="recomputed"):  # other options: another key
        build_report(sample, quick=True, seed=1, cache_dir=cache)


def test_interrupt_keeps_finished_sections(sample, monkeypatch, tmp_path):
    calls = []

    def fake(name):
        def compute(ds, opts):
            if name == "bench":
                raise KeyboardInterrupt
            calls.append(name)
            return {"name": name}

        return compute

    monkeypatch.setattr("sgdlab.report.build.SECTIONS", {k: fake(k) for k in SECTIONS})
    with pytest.raises(KeyboardInterrupt):
        build_report(sample, quick=True, cache_dir=tmp_path)
    files = sorted(p.name.split("-")[0] for p in tmp_path.glob("*.json"))
    assert files == ["minibatch", "steps"] == calls
    doc = json.loads(
        (tmp_path / f"steps-{cache_key('steps', sample, Options(quick=True))}.json").read_text()
    )
    assert doc["content"]["result"] == {"name": "steps"}


def test_cache_key_depends_on_data_and_options(sample):
    k = cache_key("bench", sample, Options(quick=True))
    assert k == cache_key("bench", sample, Options(quick=True))
    assert k != cache_key("bench", sample, Options(quick=False))
    assert k != cache_key("steps", sample, Options(quick=True))


def test_everything_interpolated_is_escaped():
    out = rich("data: $source `code $x`", source='<img src=x onerror="alert(1)">', x="</code>&")
    assert "<img" not in out and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in out
    assert "&lt;/code&gt;&amp;" in out and out.count("</code>") == 1
    assert rich("<b>$v</b>", v=1) == "&lt;b&gt;<bdi>1</bdi>&lt;/b&gt;"


def test_cli(tmp_path, capsys, monkeypatch, quick_reports):
    cache = quick_reports["en"][0].parent / "cache"
    out = tmp_path / "r.html"
    assert (
        main(["report", "--quick", "-q", "--json", "-o", str(out), "--cache-dir", str(cache)]) == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["config"] == {"seed": 0, "quick": True, "lang": "en"}
    r = doc["result"]
    assert r["bytes"] == out.stat().st_size > 100_000 and r["data"]["is_sample"]
    assert all(s["cached"] for s in r["sections"].values())
    for bad, msg in (
        (["-o", str(tmp_path / "r.txt")], "must end in .html"),
        (["--lang", "fr"], "invalid choice"),
    ):
        with pytest.raises(SystemExit) as e:
            main(["report", "--quick", *bad])
        assert e.value.code == 2 and msg in capsys.readouterr().err


def test_section_cache_is_sealed_and_an_edit_is_recomputed(sample, tmp_path):
    from sgdlab.report.build import Options, section

    calls = []

    def compute(ds, opts):
        calls.append(1)
        return {"value": 0.5}

    opts = Options(quick=True, seed=0)
    first, info = section("bench", sample, opts, cache_dir=tmp_path, compute=compute)
    again, info2 = section("bench", sample, opts, cache_dir=tmp_path, compute=compute)
    assert len(calls) == 1 and info2["cached"] and again == first
    path = Path(info["cache_file"])
    doc = json.loads(path.read_text())
    doc["content"]["result"]["value"] = 0.9  # a hand edit
    path.write_text(json.dumps(doc))
    third, info3 = section("bench", sample, opts, cache_dir=tmp_path, compute=compute)
    assert len(calls) == 2 and third == {"value": 0.5}
    assert info3["tampered"] and not info3["cached"]


def test_section_cache_on_a_full_disk_is_one_clear_error(sample, tmp_path):
    from full_disk import fill, full_disk

    from sgdlab.errors import ConfigError
    from sgdlab.report.build import Options, section

    with full_disk(tmp_path / "disk") as d:
        fill(d)
        with pytest.raises(ConfigError, match="cannot write the report cache file .*No space"):
            section(
                "bench", sample, Options(), cache_dir=d, compute=lambda ds, o: {"x": "y" * 9999}
            )
        assert sorted(p.name for p in d.iterdir()) == ["filler"]


@pytest.mark.parametrize("share", [0.0, 0.5])
def test_exercise4_text_withholds_the_explanation_under_foreign_load(sample, monkeypatch, share):
    """The bench's ``interpretation`` (the load reading monkeypatched) decides whether the
    answer explains the ratio by the fitted overhead, in both languages."""
    from sgdlab.measure.bench import benchmark
    from sgdlab.measure.machine import LoadMonitor
    from sgdlab.report.page import Page
    from sgdlab.report.render import render_bench

    load = {"wall_seconds": 1.0, "other_cpu_seconds": 0.0, "loadavg_1min_at_start": None}
    monkeypatch.setattr(LoadMonitor, "stop", lambda self: {**load, "other_cpu_share": share})
    res = benchmark(sample, engine="reference", quick=True, batch_sizes=[1, 16, 64])
    res["figures"] = {"timing": "AAAA"}
    assert res["interpretation"]["withheld"] == (share > 0)
    for lang, withheld, explained in [
        ("en", "no explanation is drawn", "of fixed overhead"),
        ("he", "לא נגזר הסבר", "תקורה קבועה"),
    ]:
        pg = Page(lang)
        render_bench(pg, res, "")
        html = "".join(pg.parts)
        assert (withheld in html) == (share > 0) and (explained in html) == (share == 0), lang
