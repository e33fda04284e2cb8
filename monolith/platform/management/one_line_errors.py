"""Management commands whose bad arguments are one clear line, not argparse's usage dump."""

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class OneLineErrorsCommand(BaseCommand):
    """A bad argument prints ``<command>: <reason> (see: python manage.py <command> --help)``
    on stderr and exits 2; errors while running stay Django's own."""

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Bad arguments become a CommandError, which run_from_argv prints as one line.
        parser.called_from_command_line = False
        return parser

    def run_from_argv(self, argv: list[str]) -> None:
        try:
            super().run_from_argv(argv)
        except CommandError as error:
            # Only argument errors get here; Django handles those raised while running.
            name = argv[1]
            for line in self.argument_error_lines(str(error).removeprefix("Error: ")):
                self.stderr.write(f"{name}: {line} (see: python manage.py {name} --help)")
            sys.exit(2)

    def argument_error_lines(self, message: str) -> list[str]:
        """The lines argparse's ``message`` is told in (one, unless a command splits it)."""
        return [message]
