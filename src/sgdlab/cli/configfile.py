"""``--config FILE.toml``: option values from a TOML file, under the command line.

Keys are the options' long names without the dashes, with ``-`` or ``_`` alike
(``batch-size = 16`` or ``batch_size = 16``); values are TOML strings, numbers or booleans and
go through the same argparse type and choice checks as on the command line. Precedence: a flag
given on the command line > the file > the built-in default.

To use it, a command's parser calls :func:`defer_defaults` after adding its options (every
default becomes ``None``, the real ones are kept aside), and its ``run`` calls :func:`resolve`
first: it fills each option from the command line, else the file, else the default, and
returns (and stores as ``args._explicit``) the options given explicitly on the command line
or in the file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sgdlab.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: argparse destinations that a file cannot set.
NOT_IN_FILE = frozenset({"help", "config", "version", "run"})
_DEFAULTS = "_sgdlab_defaults"


def defer_defaults(parser: argparse.ArgumentParser) -> None:
    """Replace every option default of ``parser`` by ``None`` and remember the real one.

    Call once, after all ``add_argument`` calls (and on a parser whose actions are its own, not
    shared with another subcommand's).
    """
    saved = {}
    for action in parser._actions:
        if action.dest in NOT_IN_FILE or action.default is argparse.SUPPRESS:
            continue
        saved[action.dest] = action.default
        action.default = None
    setattr(parser, _DEFAULTS, saved)


def options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Settable options by destination name (``batch_size`` for ``--batch-size``)."""
    return {a.dest: a for a in parser._actions if a.option_strings and a.dest not in NOT_IN_FILE}


def load_toml(path: str | Path) -> dict[str, Any]:
    """The top-level table of a TOML file; :class:`ConfigError` saying why it cannot be read."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"--config {path}: cannot read ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"--config {path}: not valid TOML ({e})") from None


def values(
    parser: argparse.ArgumentParser, table: dict[str, Any], *, where: str = "config"
) -> dict[str, Any]:
    """Check and convert a TOML table into ``{dest: value}`` with the parser's own types.

    An unknown key, a table, a wrong type or a value the option's type/choices refuse raises
    :class:`ConfigError` naming ``where`` and the key.
    """
    opts, out = options(parser), {}
    for key, raw in table.items():
        dest = key.replace("-", "_")
        if dest not in opts:
            raise ConfigError(
                f"{where}: unknown key {key!r} (keys are option names like batch-size; see --help)"
            )
        try:
            out[dest] = _convert(opts[dest], raw)
        except (argparse.ArgumentTypeError, ValueError, TypeError) as e:
            raise ConfigError(f"{where}: key {key!r}: {e}") from None
    return out


def _convert(action: argparse.Action, raw: Any) -> Any:
    if isinstance(raw, (dict, list)):
        raise TypeError(f"expected a single value, got a TOML {type(raw).__name__}")
    if action.nargs == 0:  # store_true / store_false / BooleanOptionalAction
        if not isinstance(raw, bool):
            raise TypeError(f"expected true or false, got {raw!r}")
        return raw
    if isinstance(raw, bool):
        raise TypeError(f"expected a value, not {raw!r}")
    if isinstance(raw, float) and action.type in (None, str):
        raise TypeError(f"expected a string, got {raw!r}")
    value = action.type(str(raw)) if action.type is not None else str(raw)
    if action.choices is not None and value not in action.choices:
        raise ValueError(
            f"invalid choice {value!r} (choose from {', '.join(map(str, action.choices))})"
        )
    return value


def resolve(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    path: str | Path | None = None,
    *,
    fields: set[str] | None = None,
) -> set[str]:
    """Fill ``args`` (parsed with :func:`defer_defaults`): command line > ``path`` > default.

    Returns the explicitly given destinations (command line or file), restricted to ``fields``
    when given, and stores them as ``args._explicit``.
    """
    defaults = getattr(parser, _DEFAULTS, {})
    given = {d for d in defaults if getattr(args, d, None) is not None}
    from_file = values(parser, load_toml(path), where=f"--config {path}") if path else {}
    for dest, default in defaults.items():
        if getattr(args, dest, None) is None:
            setattr(args, dest, from_file.get(dest, default))
    explicit = given | set(from_file)
    if fields is not None:
        explicit &= fields
    args._explicit = explicit
    return explicit
