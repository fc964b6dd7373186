"""The bad inputs of docs/errors.md, part 2: option values, options and output files (see
:mod:`errors_cases`)."""

from __future__ import annotations

from errors_cases import SAMPLE, Case

OPTION_CASES: list[Case] = [
    # ---------------------------------------------------------------- option values
    *(
        Case(
            "Option values",
            f"`--batch-size {v}`",
            ("train", *SAMPLE, "--batch-size", v),
            ("--batch-size", w),
        )
        for v, w in [
            ("0", "must be ≥ 1"),
            ("-1", "must be ≥ 1"),
            ("1.5", "positive integer"),
            ("nan", "positive integer"),
            ("inf", "positive integer"),
            ("abc", "positive integer"),
            ("", "positive integer"),
        ]
    ),
    Case(
        "Option values",
        "`--batch-size` larger than N (1001 > 1,000 samples)",
        ("train", *SAMPLE, "--batch-size", "1001"),
        ("batch size", "1..1000", "1001"),
    ),
    Case(
        "Option values",
        "`minibatch --batch-size` larger than N",
        ("minibatch", *SAMPLE, "--batch-size", "1001"),
        ("batch size", "1..1000"),
    ),
    Case(
        "Option values",
        "`step --batch-size` larger than N",
        ("step", *SAMPLE, "--batch-size", "1001"),
        ("batch size", "1..1000"),
    ),
    Case(
        "Option values",
        "`bench --batch-sizes` all larger than N (larger ones among others are dropped, said so)",
        ("bench", *SAMPLE, "--batch-sizes", "1001,4096"),
        ("every batch size is larger than N = 1,000",),
    ),
    *(
        Case("Option values", f"`--epochs {v}`", ("train", *SAMPLE, "--epochs", v), ("--epochs", w))
        for v, w in [
            ("0", "must be ≥ 1"),
            ("-1", "must be ≥ 1"),
            ("1.5", "positive integer"),
            ("nan", "positive integer"),
            ("inf", "positive integer"),
            ("abc", "positive integer"),
        ]
    ),
    *(
        Case("Option values", f"`--lr {v}`", ("train", *SAMPLE, "--lr", v), ("--lr", w))
        for v, w in [
            ("0", "finite and > 0"),
            ("-1", "finite and > 0"),
            ("nan", "finite and > 0"),
            ("inf", "finite and > 0"),
            ("1e-400", "finite and > 0"),
            ("abc", "expected a number"),
        ]
    ),
    Case(
        "Option values",
        "`--lr -inf` (argparse reads `-inf` as an option name)",
        ("train", *SAMPLE, "--lr", "-inf"),
        ("--lr", "expected one argument"),
    ),
    Case(
        "Option values", "`--lr=-inf`", ("train", *SAMPLE, "--lr=-inf"), ("--lr", "finite and > 0")
    ),
    Case(
        "Option values",
        "`step --lr nan`",
        ("step", *SAMPLE, "--lr", "nan"),
        ("--lr", "finite and > 0"),
    ),
    Case(
        "Option values",
        "`--lr 1e300` (beyond float32)",
        ("train", *SAMPLE, "--lr", "1e300", "--epochs", "1"),
        ("--lr", "float32"),
    ),
    Case(
        "Option values",
        "`--lr 1e36` (training diverges: non-finite cost)",
        ("train", *SAMPLE, "--lr", "1e36", "--epochs", "1", "--engine", "reference"),
        ("diverged", "non-finite", "at step", "smaller learning rate"),
    ),
    *(
        Case("Option values", f"`--seed {v}`", ("train", *SAMPLE, "--seed", v), ("--seed", w))
        for v, w in [
            ("-1", "0..2**63-1"),
            ("1.5", "integer ≥ 0"),
            ("nan", "integer ≥ 0"),
            ("inf", "integer ≥ 0"),
            ("abc", "integer ≥ 0"),
        ]
    ),
    Case(
        "Option values",
        "`--seed 18446744073709551616` (2⁶⁴, too big for the generator)",
        ("train", *SAMPLE, "--epochs", "1", "--seed", "18446744073709551616"),
        ("--seed", "0..2**63-1"),
    ),
    # ---------------------------------------------------------------- options, engines
    Case(
        "Options",
        "unknown option",
        ("train", *SAMPLE, "--bogus"),
        ("unrecognized arguments", "--bogus"),
    ),
    Case("Options", "unknown command", ("bogus",), ("invalid choice", "bogus")),
    Case(
        "Options",
        "option without its value",
        ("train", *SAMPLE, "--epochs"),
        ("--epochs", "expected one argument"),
    ),
    Case(
        "Options",
        "unknown `--method`",
        ("train", *SAMPLE, "--method", "adam"),
        ("--method", "invalid choice"),
    ),
    Case(
        "Options",
        "unknown `--init`",
        ("train", *SAMPLE, "--init", "ones"),
        ("--init", "invalid choice"),
    ),
    Case(
        "Options",
        "unknown engine",
        ("train", *SAMPLE, "--engine", "warp"),
        ("--engine", "invalid choice", "warp"),
    ),
    Case(
        "Options",
        "unknown device",
        ("train", *SAMPLE, "--device", "tpu"),
        ("unknown device", "tpu"),
    ),
    Case(
        "Options",
        "`step` with an unknown device",
        ("step", *SAMPLE, "--device", "tpu"),
        ("unknown device", "tpu"),
    ),
    Case(
        "Options",
        "a torch device sgdlab cannot train on (`--device meta`)",
        ("train", *SAMPLE, "--epochs", "1", "--device", "meta"),
        ("unknown device", "meta"),
    ),
    # ---------------------------------------------------------------- the update, schedules
    *(
        Case("Option values", f"`{' '.join(a)}`", ("train", *SAMPLE, *a), w)
        for a, w in [
            (("--momentum=-0.1",), ("--momentum", "finite and ≥ 0")),
            (("--momentum", "1"), ("--momentum", "[0, 1)")),
            (("--weight-decay=-1e-4",), ("--weight-decay", "finite and ≥ 0")),
            (("--weight-decay", "nan"), ("--weight-decay", "finite and ≥ 0")),
            (("--nesterov",), ("nesterov", "momentum > 0")),
            (("--schedule", "warmup"), ("--schedule", "invalid choice")),
            (("--schedule", "step", "--gamma", "0"), ("--gamma", "finite and > 0")),
            (("--schedule", "step", "--step-epochs", "0"), ("--step-epochs", "≥ 1")),
            (("--schedule", "inverse", "--t0=-5"), ("--t0", "finite and > 0")),
            (("--validation", "1000"), ("validation size", "0..999")),
            (("--validation=-1",), ("--validation", "0..2**63-1")),
            (("--validation", "900", "--batch-size", "200"), ("batch size", "1..100")),
            (("--early-stop", "3"), ("--early-stop", "needs --validation N")),
            (("--early-stop=-1", "--validation", "100"), ("--early-stop", "0..2**63-1")),
            (("--log-csv", "log.txt"), ("--log-csv", "must end in .csv")),
        ]
    ),
    # ---------------------------------------------------------------- --config FILE.toml
    *(
        Case(
            "Options",
            f"`--config` {what}: `{text.strip()}`",
            ("train", *SAMPLE, "--config", "{data}/c.toml"),
            w,
            setup=lambda d, text=text: (d / "c.toml").write_text(text),
        )
        for what, text, w in [
            ("with an unknown key", "bogus = 1\n", ("--config", "unknown key 'bogus'")),
            ("with a bad value", "momentum = -1\n", ("key 'momentum'", "≥ 0")),
            (
                "with a value of the wrong type",
                'batch-size = "big"\n',
                ("key 'batch-size'", "positive integer"),
            ),
            (
                "with a boolean option given a number",
                "average = 1\n",
                ("key 'average'", "true or false"),
            ),
            (
                "with a choice it does not know",
                'schedule = "warmup"\n',
                ("key 'schedule'", "invalid choice"),
            ),
            ("that is not TOML", "batch-size = = 3\n", ("--config", "not valid TOML")),
        ]
    ),
    Case(
        "Options",
        "`--config` that does not exist",
        ("train", *SAMPLE, "--config", "{tmp}/missing.toml"),
        ("--config", "cannot read"),
    ),
    # ---------------------------------------------------------------- output paths
    Case(
        "Output files",
        "`--save-weights` with an unknown extension",
        ("train", *SAMPLE, "--save-weights", "{tmp}/w.txt"),
        ("--save-weights", ".pt"),
    ),
    Case(
        "Output files",
        "`--save-weights` into a directory that does not exist (.pt)",
        ("train", *SAMPLE, "--epochs", "1", "--save-weights", "{tmp}/missing/w.pt"),
        ("--save-weights", "missing", "does not exist"),
    ),
    Case(
        "Output files",
        "`--save-weights` into a directory that does not exist (.safetensors)",
        ("train", *SAMPLE, "--epochs", "1", "--save-weights", "{tmp}/missing/w.safetensors"),
        ("--save-weights", "missing", "does not exist"),
    ),
    Case(
        "Output files",
        "`--save-weights` under a path that is a file",
        ("train", *SAMPLE, "--epochs", "1", "--save-weights", "{file}/w.pt"),
        ("--save-weights", "does not exist"),
    ),
    Case(
        "Output files",
        "`--save-weights` naming an existing directory",
        ("train", *SAMPLE, "--epochs", "1", "--save-weights", "{tmp}/adir.pt"),
        ("--save-weights", "adir.pt", "is a directory"),
    ),
    Case(
        "Output files",
        "`train --plot` naming an existing directory (refused before training)",
        ("train", *SAMPLE, "--epochs", "1", "--plot", "{tmp}/adir.png"),
        ("--plot", "adir.png", "is a directory"),
    ),
    Case(
        "Output files",
        "`report -o` naming an existing directory (refused before any work)",
        ("report", "--quick", *SAMPLE, "-o", "{tmp}/adir.html"),
        ("--output", "adir.html", "is a directory"),
    ),
    Case(
        "Output files",
        "`minibatch --save` into a directory that does not exist",
        ("minibatch", *SAMPLE, "--save", "{tmp}/missing/x.png"),
        ("--save", "missing", "does not exist"),
    ),
    Case(
        "Output files",
        "`minibatch --save` under a path that is a file",
        ("minibatch", *SAMPLE, "--save", "{file}/x.png"),
        ("--save", "does not exist"),
    ),
    Case(
        "Output files",
        "`train --plot` with an unknown extension",
        ("train", *SAMPLE, "--plot", "{tmp}/c.txt"),
        ("--plot", ".png"),
    ),
    Case(
        "Output files",
        "`train --plot` into a directory that does not exist",
        ("train", *SAMPLE, "--plot", "{tmp}/missing/c.png"),
        ("--plot", "does not exist"),
    ),
    Case(
        "Output files",
        "`minibatch --save` with an image format matplotlib does not know",
        ("minibatch", *SAMPLE, "--save", "{tmp}/x.xyz"),
        ("--save", "x.xyz", ".png"),
    ),
    Case(
        "Options",
        "`experiment --scheduler 127.0.0.1:8786` (no scheme)",
        ("experiment", "--quick", "-q", "--scheduler", "127.0.0.1:8786"),
        ("scheduler must be 'local' or tcp://HOST:PORT",),
    ),
    Case(
        "Options",
        "`experiment --scheduler tcp://HOST:PORT --workers 2` (a running cluster has its workers)",
        ("experiment", "--quick", "-q", "--scheduler", "tcp://127.0.0.1:8786", "--workers", "2"),
        ("--workers goes with --scheduler local",),
    ),
    Case(
        "Options",
        "`experiment --sweep --scheduler local` (the sweep runs in local processes)",
        ("experiment", "--sweep", "--sample", "-q", "--scheduler", "local"),
        ("--scheduler runs the study's passes",),
    ),
    Case(
        "Options",
        "`--method gd` with `-b 64` (full GD never uses the batch size)",
        ("train", *SAMPLE, "--method", "gd", "-b", "64"),
        ("--batch-size has no effect with --method gd",),
    ),
    Case(
        "Options",
        "`bench --verbose --json` (the JSON carries every figure)",
        ("bench", *SAMPLE, "--verbose", "--json"),
        ("--verbose has no effect with --json",),
    ),
    Case(
        "Options",
        "`--schedule cosine --gamma 0.5` (gamma is the step schedule's)",
        ("train", *SAMPLE, "--schedule", "cosine", "--gamma", "0.5"),
        ("--gamma has no effect with --schedule cosine",),
    ),
    Case(
        "Options",
        "`--sample --data-dir DIR` (the sample is read, not DIR)",
        ("minibatch", *SAMPLE, "--data-dir", "{data}"),
        ("--data-dir has no effect with --sample",),
    ),
    Case(
        "Options",
        "`report --quick --data-dir DIR` (the quick report is the sample's)",
        ("report", "--quick", "-q", "--data-dir", "{data}", "-o", "{tmp}/r.html"),
        ("--data-dir has no effect with --quick",),
    ),
    Case(
        "Options",
        "`report --no-cache --cache-dir DIR`",
        ("report", *SAMPLE, "--no-cache", "--cache-dir", "{tmp}/c", "-o", "{tmp}/r.html"),
        ("--cache-dir has no effect with --no-cache",),
    ),
    Case(
        "Options",
        "`train --keep 3` without a checkpoint directory",
        ("train", *SAMPLE, "--keep", "3"),
        ("--keep has no effect without --checkpoint-dir",),
    ),
    Case(
        "Options",
        "`likelihood --weights W --init uniform` (the model is loaded, not initialized)",
        ("likelihood", *SAMPLE, "--weights", "{tmp}/w.safetensors", "--init", "uniform"),
        ("--init has no effect with --weights",),
    ),
    Case(
        "Options",
        "`experiment --sweep --no-noise` (the sweep always measures its noise)",
        ("experiment", "--sweep", *SAMPLE, "--no-noise"),
        ("--no-noise has no effect with --sweep",),
    ),
    Case(
        "Options",
        "`experiment --format svg` without `--plot`",
        ("experiment", "--quick", "-q", "--format", "svg"),
        ("--format has no effect without --plot",),
    ),
    Case(
        "Options",
        "`evaluate --seed 1` (nothing in it is random)",
        ("evaluate", *SAMPLE, "--weights", "{tmp}/w.safetensors", "--seed", "1"),
        ("--seed has no effect here",),
    ),
    Case(
        "Options",
        "`playground --json` (it serves a page)",
        ("playground", "--json", "--port", "0"),
        ("--json has no effect here",),
    ),
    Case(
        "Options",
        "`--batch 8 --ep 1` (abbreviations are not taken for options)",
        ("train", *SAMPLE, "--batch", "8", "--ep", "1"),
        ("unrecognized arguments", "did you mean --batch -> --batch-size, --ep -> --epochs"),
    ),
]
