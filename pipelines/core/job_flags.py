"""The command line of a Beam job (preprocess, remove, evaluate): strict, before any work.

Beam's own parser takes any flag it does not know with a warning ("Discarding unparseable args")
and runs on: `--backgroud white` would make transparent cut-outs and exit 0. Here every flag of
the command line must be one of:
- the job's own flags, and the shared flags (`options.SharedJobOptions`, passed in as the second
  of `job_classes`) that the job reads
  (preprocess does not list or take `--model`, evaluate not `--output_dir`);
- Beam's standard options: every flag of every PipelineOptions class Beam itself defines (its
  registry, asked at run time, so a Beam upgrade brings its new flags): `--runner`, `--project`,
  `--region`, `--temp_location`, `--setup_file`, `--sdk_container_image`,
  `--direct_num_workers`, `--direct_running_mode`, `--dry_run`, ... `--help` lists them all.
Anything else is one line naming the flag and the nearest known one, exit 2
(`model/flags.py`). Short forms (-m/--model, -o/--output_dir, -i/--input) and a job's positional
form (`cutout remove IN OUT`) are rewritten into the long flags Beam's parser reads, so the job
itself, and Beam, only ever see `--name value`.
"""
from __future__ import annotations

import argparse
import textwrap
from typing import Iterable, Optional

from apache_beam.options import pipeline_options as beam_options

from model import flags as strict


POSITIONAL_NAMES = {"--input": "IN", "--output_dir": "OUT"}


def _metavar(flag: str) -> str:
    return POSITIONAL_NAMES.get(flag, flag.lstrip("-").upper())


class JobParser(strict.StrictParser, beam_options._BeamArgumentParser):
    """A strict parser that also takes Beam's value-provider arguments."""


def beam_option_classes() -> list:
    """Beam's own PipelineOptions classes (its registry: every subclass, at any depth, defined
    in an apache_beam module), not the project's."""
    found, todo = {}, list(beam_options.PipelineOptions.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith("apache_beam."):
            found.setdefault(f"{cls.__module__}.{cls.__qualname__}", cls)
    return [found[name] for name in sorted(found)]


def beam_actions() -> list[argparse.Action]:
    scratch = beam_options._BeamArgumentParser(allow_abbrev=False, add_help=False)
    for cls in beam_option_classes():
        try:
            cls._add_argparse_args(scratch)
        except argparse.ArgumentError:  # two Beam classes declaring one flag: the first wins
            continue
    return list(scratch._actions)


def beam_flag_names() -> list[str]:
    return sorted({s for a in beam_actions() for s in a.option_strings if s.startswith("--")})


def option_strings(options_cls) -> list[str]:
    scratch = argparse.ArgumentParser(add_help=False)
    options_cls._add_argparse_args(scratch)
    return [s for a in scratch._actions for s in a.option_strings]


class _Only:
    """A parser that adds only some of the flags offered to it (a job's share of the shared
    flags)."""

    def __init__(self, parser, names: Iterable[str]):
        self._parser = parser
        self._names = set(names)

    def add_argument(self, *args, **kwargs):
        if any(a in self._names for a in args):
            return self._parser.add_argument(*args, **kwargs)
        return None


def job_parser(prog: str, job_classes: tuple, shared: Iterable[str], description: str = "",
               positionals: tuple = (), required: Iterable[str] = ()) -> JobParser:
    parser = JobParser(prog=prog, description=description)
    if positionals:
        for flag in positionals:
            parser.add_argument(f"_{flag.lstrip('-')}", nargs="?", metavar=_metavar(flag),
                                help=f"the same as {flag}")
    job_cls, shared_cls = job_classes
    job_cls._add_argparse_args(parser)
    shared_cls._add_argparse_args(_Only(parser, shared))
    strict.add_short_forms(parser)
    strict.mark_required(parser, required)
    names = []
    # Another job's shared flag (preprocess --model) is named as such, not as a misspelling.
    parser.not_taken = {flag: f"{prog} does not take {flag} (other commands do)"
                        for flag in option_strings(shared_cls)
                        if flag not in parser._option_string_actions}
    for action in beam_actions():
        if any(s in parser._option_string_actions for s in action.option_strings):
            continue  # a job flag of the same name wins (none today)
        action.help = argparse.SUPPRESS
        parser._add_action(action)
        names += [s for s in action.option_strings if s.startswith("--")]
    parser.epilog = ("Standard Beam options are accepted too (every flag of Beam's own "
                     "PipelineOptions; with no --runner the job runs locally and offline): "
                     + ", ".join(sorted(names)))
    parser.formatter_class = _Formatter
    return parser


class _Formatter(strict.DefaultsFormatter):
    def _fill_text(self, text, width, indent):  # the epilog: a wrapped paragraph
        return textwrap.fill(" ".join(text.split()), width, initial_indent=indent,
                             subsequent_indent=indent)


def split_argv(parser: JobParser, argv: list) -> tuple[list, list]:
    """(flags in their long form with their values, positional arguments). Refuses (one line,
    exit 2) an unknown flag, a flag with no value, and a single-value flag given twice."""
    flags, positionals, seen = [], [], set()
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            positionals += argv[i + 1:]
            break
        if not token.startswith("-") or token == "-" or strict._is_number(token):
            positionals.append(token)
            i += 1
            continue
        name, eq, value = token.partition("=")
        action = parser._option_string_actions.get(name)
        if action is None and not token.startswith("--") and len(token) > 2:
            action = parser._option_string_actions.get(token[:2])  # -mMODEL
            if action is not None:
                name, eq, value = token[:2], "=", token[2:]
        if action is None:
            strict.usage_error(parser.prog, parser.not_taken.get(name) or
                               strict.unknown_flag_message(name, parser.known_flags()))
        long = strict.long_form(parser, name)
        if (long in seen and isinstance(action, argparse._StoreAction)
                and long != "--help"):
            strict.usage_error(parser.prog, f"{long} is given twice: give it once")
        seen.add(long)
        if eq:
            flags.append(f"{long}={value}")
        elif action.nargs == 0 or (action.nargs == "?" and (
                i + 1 >= len(argv) or argv[i + 1].startswith("-"))):
            flags.append(long)
        elif i + 1 >= len(argv):
            strict.usage_error(parser.prog, f"{name} needs a value")
        else:
            flags += [long, argv[i + 1]]
            i += 1
        i += 1
    return flags, positionals


def strict_argv(prog: str, job_classes: tuple, shared: Iterable[str], argv: list,
                description: str = "",
                positionals: tuple = (), required: Iterable[str] = ()) -> list:
    """The job's command line checked (unknown flags, bad values, `--help`), in the long form
    Beam's parser reads; a positional form (`IN OUT`) becomes its flags. Exits 2 (one line)
    on a mistake, 0 after `--help`."""
    parser = job_parser(prog, job_classes, shared, description, positionals, required)
    flags, given = split_argv(parser, argv)
    parser.parse_known_args(flags)  # values: types and choices (one-line errors); --help
    if not given:
        return flags
    if not positionals:
        strict.usage_error(prog, f"unexpected argument {given[0]!r}")
    names = " ".join(_metavar(flag) for flag in positionals)
    clash = [f for f in flags if f.split("=", 1)[0] in positionals + ("--input_list",)]
    if clash:
        strict.usage_error(prog, f"give {names} or {' and '.join(positionals)}, not both "
                                 f"({clash[0].split('=', 1)[0]} is given too)")
    if len(given) != len(positionals):
        strict.usage_error(prog, f"give {names} ({len(positionals)} paths; got "
                                 f"{len(given)}: {' '.join(given)})")
    for flag, value in zip(positionals, given):
        flags += [flag, value]
    return flags


def first_line(doc: Optional[str]) -> str:
    return (doc or "").strip().split("\n")[0]
