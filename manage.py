#!/usr/bin/env python
"""Django's command-line utility for the fleet platform."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monolith.settings.local")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as problem:
        # Configuration comes from the environment: say what to set, not where it broke.
        sys.stderr.write(f"Configuration error: {problem}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
