"""Parsing (cli/main.py): --help imports no heavy library; no abbreviations; a close match is
suggested; the error names the subcommand. (No timing asserted: see docs/benchmarks.md.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from sgdlab.cli.main import COMMANDS, main

HEAVY = ("torch", "numba", "matplotlib")


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_imports_no_heavy_library(command):
    code = (
        "import sys\n"
        "from sgdlab.cli.main import main\n"
        "try:\n"
        f"    main({[*command.split(), '--help']!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and "usage: sgdlab" in r.stdout, r.stderr
    assert r.stderr.strip().splitlines()[-1] == "[]"


def test_import_sgdlab_is_light_and_public_names_still_work():
    code = (
        "import sys, sgdlab\n"
        "light = 'torch' not in sys.modules\n"
        "assert callable(sgdlab.train) and sgdlab.TrainConfig().batch_size == 16\n"
        "assert set(sgdlab.__all__) <= set(dir(sgdlab))\n"
        "assert sorted(sgdlab.__all__) == sorted([*sgdlab._LAZY, '__version__'])\n"
        "assert all(getattr(sgdlab, n) is not None for n in sgdlab.__all__)\n"
        "print(light)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stderr
    with pytest.raises(AttributeError):
        import sgdlab

        sgdlab.no_such_name  # noqa: B018


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["train", "--batch", "8", "--ep", "1"], "--batch -> --batch-size, --ep -> --epochs"),
        (["train", "--batch-szie", "8"], "--batch-szie -> --batch-size"),
        (["experiment", "--wokers", "2"], "--wokers -> --workers"),
    ],
)
def test_abbreviations_are_refused_with_a_suggestion(argv, said, capsys):
    with pytest.raises(SystemExit) as e:
        main([*argv, "--sample"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1
    assert err.startswith(f"sgdlab {argv[0]}: error: unrecognized arguments")
    assert f"did you mean {said}?" in err


def _parsers():
    """(name, parser) for the top level and every subcommand, as ``main`` builds them."""
    from sgdlab.cli.main import build_parser

    parser = build_parser()
    subs = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return [("sgdlab", parser), *subs.choices.items()]


def test_every_parser_refuses_abbreviations():
    from sgdlab.cli.common import common_parent

    parsers = _parsers()
    assert [n for n, _ in parsers[1:]] == list(COMMANDS)
    assert [n for n, p in [*parsers, ("common", common_parent())] if p.allow_abbrev] == []


def test_an_unknown_engine_is_refused_while_parsing():
    """--engine has choices (config.ENGINES, the engines' registry plus auto): refused before
    torch or the data are loaded, in argparse's words."""
    code = (
        "import sys\n"
        "from sgdlab.cli.main import main\n"
        "try:\n"
        "    main(['train', '--sample', '--engine', 'warp'])\n"
        "except SystemExit as e:\n"
        "    print(e.code, 'torch' in sys.modules)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.stdout.split() == ["2", "False"], r.stderr
    assert r.stderr.startswith("sgdlab train: error: argument --engine: invalid choice: 'warp'")
    assert r.stderr.count("\n") == 1


def test_engine_choices_are_the_registry():
    from sgdlab import engines
    from sgdlab.config import ENGINES

    assert list(ENGINES) == ["auto", *engines.engine_names()]


def test_every_option_has_help_and_lists_its_choices():
    missing = []
    for name, sub in _parsers():
        for action in sub._actions:
            if not action.option_strings or action.help == "==SUPPRESS==":
                continue
            flag = f"{name} {action.option_strings[-1]}"
            if not action.help:
                missing.append(f"{flag}: no help")
            elif action.choices and not all(
                str(c) in action.help % {**vars(action), "prog": sub.prog} for c in action.choices
            ):
                missing.append(f"{flag}: help does not list {list(action.choices)}")
    assert missing == []


def test_every_save_message_has_one_form():
    """``saved PATH (what)`` everywhere: no other phrasing in the commands' source."""
    import re
    from pathlib import Path

    import sgdlab.cli

    src = Path(sgdlab.cli.__file__).parent
    said = []
    for f in sorted(src.glob("*.py")):
        text = f.read_text()
        said += [
            (f.name, m)
            for m in re.findall(r'f"\\?n?(?:saved|wrote|[a-z ]+ saved to|curves drawn)[^"]*"', text)
        ]
    assert said, "no save message found: the pattern is stale"
    bad = [(name, m) for name, m in said if not re.match(r'f"(\\n)?saved \{[^}]+\} \(', m)]
    assert bad == []


def test_every_device_option_has_the_same_default():
    """--device means the same everywhere: auto (cuda when there is one), resolved by
    ``sgdlab.config.resolve_device`` (train keeps its defaults aside for --config files)."""
    defaults = {}
    for name, sub in _parsers():
        for action in sub._actions:
            if action.dest == "device":
                defaults[name] = getattr(sub, "_sgdlab_defaults", {}).get("device", action.default)
    assert {"train", "step", "bench"} <= set(defaults), defaults
    assert set(defaults.values()) == {"auto"}, defaults


@pytest.mark.parametrize(
    ("command", "option"),
    [
        ("evaluate", "--seed"),
        ("predict", "--seed"),
        ("playground", "--seed"),
        ("playground", "--json"),
    ],
)
def test_a_common_option_a_command_has_no_use_for_is_hidden_and_refused(command, option, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    assert option not in capsys.readouterr().out
    argv = [command, option, *(["1"] if option == "--seed" else [])]
    argv += ["--weights", "w.safetensors"] if command != "playground" else []
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"sgdlab {command}: error: {option} has no effect here (")
    assert err.count("\n") == 1
