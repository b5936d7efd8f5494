"""Help text conventions of the `ekswin` CLI: every option shows its default, `--version`."""

from __future__ import annotations

import argparse
from typing import Any


class DefaultsFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to an option's help unless the help already names its
    default or there is none worth showing (None, False, empty): argparse's own
    ArgumentDefaultsHelpFormatter would print "(default: None)" for flags whose default
    comes from the environment or the spec."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default in (None, False, "", argparse.SUPPRESS)
            or not action.option_strings
            or isinstance(action, argparse._VersionAction | argparse._HelpAction)
        ):
            return text
        return f"{text} (default: %(default)s)"


def _subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                out.append(child)
                out += _subparsers(child)
    return out


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """Make `parser` and every subcommand's parser show option defaults in --help."""
    for p in [parser, *_subparsers(parser)]:
        p.formatter_class = DefaultsFormatter


def all_parsers(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """(prog, parser) of `parser` and every subcommand below it (for tests and docs)."""
    return [(p.prog, p) for p in [parser, *_subparsers(parser)]]


def version_text() -> str:
    """`ekswin --version`: the installed package version."""
    from importlib import metadata

    try:
        version = metadata.version("ekswin-harness")
    except metadata.PackageNotFoundError:
        version = "unknown (not installed)"
    return f"ekswin {version}"


def defaults_of(parser: argparse.ArgumentParser) -> dict[str, Any]:
    """option string -> default, for options with a default worth showing."""
    return {
        a.option_strings[-1]: a.default
        for a in parser._actions
        if a.option_strings and a.default not in (None, False, "", argparse.SUPPRESS)
    }
