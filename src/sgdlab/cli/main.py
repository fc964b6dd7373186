"""The ``sgdlab`` command line: parses arguments and calls library functions, nothing more.

Each subcommand lives in :mod:`sgdlab.cli` (one module per command, exporting
``register(subparsers, parents)``). A user's mistake (bad option, bad value, missing data) is
printed as one line on stderr with exit code 2 and no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import threading

from sgdlab.errors import DistributedError, SgdlabError, TrainingInterrupted

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = (
    "minibatch",
    "step",
    "train",
    "evaluate",
    "predict",
    "bench",
    "likelihood",
    "experiment",
    "report",
    "playground",
)


class _Parser(argparse.ArgumentParser):
    """One-line errors naming the (sub)command; no abbreviations (``--batch 8`` is refused, not
    taken for ``--batch-size``); a close match is suggested for an unknown option."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # one line, exit 2 (argparse prints usage + message)
        hint = self._did_you_mean(message)
        self.exit(2, f"{self.prog}: error: {message}{hint} (see {self.prog} --help)\n")

    def _did_you_mean(self, message: str) -> str:
        prefix = "unrecognized arguments: "
        if not message.startswith(prefix):
            return ""
        import difflib

        known = [o for o in self._option_string_actions if o.startswith("--")]
        hints = []
        for word in message[len(prefix) :].split():
            flag = word.split("=", 1)[0]
            if flag.startswith("--"):
                close = [o for o in known if o.startswith(flag)][:1]  # an abbreviation
                close = close or difflib.get_close_matches(flag, known, n=1, cutoff=0.6)
                if close:
                    hints.append(f"{flag} -> {close[0]}")
        return f"; did you mean {', '.join(hints)}?" if hints else ""


def build_parser() -> argparse.ArgumentParser:
    from sgdlab.cli.common import common_parent

    parser = _Parser(
        prog="sgdlab",
        description="Train and study minibatch SGD on Fashion-MNIST: the chapter's softmax "
        "classifier y = softmax(z(x)), cost C = mean cross-entropy, step (W,b) -= lr*grad C.",
        epilog="Exercises: 1 = sgdlab minibatch, 2-3 = sgdlab step, 4 = sgdlab bench, "
        "5 = sgdlab likelihood; main job = sgdlab train; does a smaller minibatch converge "
        "faster? = sgdlab experiment; all of it on one page = sgdlab report. "
        "Run 'sgdlab COMMAND --help' for each command's options.",
    )
    from sgdlab._version import __version__

    parser.add_argument("--version", action="version", version=f"sgdlab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:  # a parent per command: its options are that command's own objects
        importlib.import_module(f"sgdlab.cli.{name}").register(sub, [common_parent()])
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # said by the subcommand's own parser: its name, its options, a close match
        subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        (subs.choices.get(getattr(args, "command", None)) or parser).error(
            f"unrecognized arguments: {' '.join(extra)}"
        )
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    old = _on_sigterm()
    try:
        from sgdlab.cli.common import refuse_unused

        refuse_unused(args)  # a common option this command has no use for
        return int(args.run(args) or 0)
    except TrainingInterrupted as e:
        print(f"sgdlab {args.command}: {e}", file=sys.stderr)
        return e.exit_code
    except DistributedError as e:  # a lost rank or a rendezvous that never formed
        print(f"sgdlab {args.command}: error: {e}", file=sys.stderr)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(e.exit_code)  # the process group is broken: its teardown could abort or hang
    except SgdlabError as e:
        msg = str(e).rstrip()
        print(f"sgdlab {args.command}: error: {msg}", file=sys.stderr)
        return getattr(e, "exit_code", 2)  # 75: a run busy elsewhere (retry later)
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"sgdlab {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


def _on_sigterm():
    """SIGTERM outside a checkpointed training loop (which handles it itself, see
    :mod:`sgdlab.training.signals`): one line and exit 143 instead of a silent death; files
    being written are abandoned whole (atomic writes). Returns the previous handler (None where
    nothing was installed: not the main thread, or a torchrun rank, whose group must die)."""
    if threading.current_thread() is not threading.main_thread() or "LOCAL_RANK" in os.environ:
        return None

    def stop(signum, frame):
        raise TrainingInterrupted(
            "stopped by SIGTERM; nothing half-written is left (rerun the same command; with "
            "--resume it continues from the last checkpoint)",
            signum,
        )

    return signal.signal(signal.SIGTERM, stop)


if __name__ == "__main__":
    sys.exit(main())
