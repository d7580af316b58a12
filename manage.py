#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "topoforge.settings")
    from topoforge.config import ConfigurationError

    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    except ConfigurationError as error:
        # A misconfiguration is the operator's to fix: one clear line, no traceback.
        sys.stderr.write(f"topoforge: {error}\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
