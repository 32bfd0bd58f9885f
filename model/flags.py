"""Strict command lines for every Cutout entry point: what the field's best tools do.

- An unknown or misspelt flag is refused before any work, on one line that names it and the
  nearest flag the command knows (`--epoch` -> "did you mean --epochs?"), exit status 2 (the
  status of every user mistake, model/errors.py). No prefix abbreviations: argparse would take
  `--epoch 1` for `--epochs 1` silently, and a later flag starting the same way would change
  what an old command means.
- Any other usage error (a missing required flag, a bad value, a wrong choice) is one line too:
  argparse's own usage block is left out, `PROG --help` is named instead.
- `--help` shows the command's own usage (`cutout train`, or `python -m model.train`), marks
  required flags and shows each flag's default.

Kept free of heavy imports (argparse and difflib only): it runs before TensorFlow and Beam load.
"""
from __future__ import annotations

import argparse
import difflib
import sys
from typing import Iterable, NoReturn, Optional

EXIT_USAGE = 2  # argparse's status for a usage error, and model/errors.py's for every mistake

# The field's habits: rembg, ffmpeg, curl and most converters take -i/-o; -m names a model.
SHORT_FLAGS = {"--model": "-m", "--output_dir": "-o", "--input": "-i"}
REQUIRED_MARK = "(required)"


def nearest(flag: str, known: Iterable[str]) -> Optional[str]:
    """The known flag closest to a misspelt one, or None when nothing is close."""
    name = flag.split("=", 1)[0]
    longs = sorted({k for k in known if k.startswith("--")})
    match = difflib.get_close_matches(name, longs, n=1, cutoff=0.6)
    return match[0] if match else None


def unknown_flag_message(token: str, known: Iterable[str]) -> str:
    """"unknown flag --epoch (did you mean --epochs?)"."""
    name = token.split("=", 1)[0]
    guess = nearest(name, known)
    hint = f" (did you mean {guess}?)" if guess else ""
    return f"unknown flag {name}{hint}"


class DefaultsFormatter(argparse.HelpFormatter):
    """Shows `(default: X)` for flags that have a real default (not None, not a switch's False),
    like ArgumentDefaultsHelpFormatter without its `(default: None)` noise."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if ("%(default)" in text or default in (None, False, argparse.SUPPRESS)
                or not action.option_strings or action.nargs == 0):
            return text
        return f"{text} (default: %(default)s)" if text else "(default: %(default)s)"


class StrictParser(argparse.ArgumentParser):
    """argparse without prefix matching, with one-line errors that name the nearest flag."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        if kwargs.get("required") and REQUIRED_MARK not in (kwargs.get("help") or ""):
            kwargs["help"] = f"{REQUIRED_MARK} {kwargs.get('help') or ''}".rstrip()
        return super().add_argument(*args, **kwargs)

    def known_flags(self) -> list[str]:
        return list(self._option_string_actions)

    def error(self, message: str) -> NoReturn:
        usage_error(self.prog, message)

    def parse_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        refuse_unknown_flags(self, args)  # before argparse's own checks (a missing --model)
        parsed, extra = self.parse_known_intermixed_args(args, namespace)
        refuse_extra(self, extra)
        return parsed


def refuse_unknown_flags(parser: StrictParser, args: list) -> None:
    for token in args:
        if token == "--":
            return
        name = token.split("=", 1)[0]
        if (token.startswith("-") and token != "-" and not _is_number(token)
                and name not in parser._option_string_actions
                and token[:2] not in parser._option_string_actions):
            usage_error(parser.prog, unknown_flag_message(name, parser.known_flags()))


def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def refuse_extra(parser: StrictParser, extra: list) -> None:
    """One line for the first argument the parser did not take (a flag: with the nearest
    known one), exit 2."""
    if not extra:
        return
    token = extra[0]
    if token.startswith("-") and token != "-":
        usage_error(parser.prog, unknown_flag_message(token, parser.known_flags()))
    usage_error(parser.prog, f"unexpected argument {token!r}")


def usage_error(prog: str, message: str) -> NoReturn:
    """`PROG: error: MESSAGE (PROG --help lists the flags)` on one line of stderr, exit 2."""
    text = " ".join(str(message).split())
    print(f"{prog}: error: {text} ({prog} --help lists the flags)", file=sys.stderr, flush=True)
    sys.exit(EXIT_USAGE)


def mark_required(parser: argparse.ArgumentParser, flags: Iterable[str]) -> None:
    """Marks flags as required in --help without making argparse enforce them (the job's own
    checks do, with messages that say what to give: some are required only in one mode)."""
    for flag in flags:
        action = parser._option_string_actions.get(flag)
        if action is not None and REQUIRED_MARK not in (action.help or ""):
            action.help = f"{REQUIRED_MARK} {action.help or ''}".rstrip()


def add_short_forms(parser: argparse.ArgumentParser,
                    short: Optional[dict] = None) -> None:
    """Gives the flags the parser has their habitual short form (-m/--model, ...)."""
    for long, alias in (SHORT_FLAGS if short is None else short).items():
        action = parser._option_string_actions.get(long)
        if action is None or alias in parser._option_string_actions:
            continue
        action.option_strings.insert(0, alias)
        parser._option_string_actions[alias] = action


def long_form(parser: argparse.ArgumentParser, flag: str) -> str:
    """The flag's canonical --name (what Beam's own parser reads), for one of its forms."""
    action = parser._option_string_actions[flag]
    longs = [s for s in action.option_strings if s.startswith("--")]
    return longs[0] if longs else flag
