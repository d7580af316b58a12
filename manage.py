#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""
import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "topoforge.settings")
    from topoforge.config import ConfigurationError, declare_help_only
    from topoforge.startup import DatabaseUnavailable, unreachable_database_message

    declare_help_only(sys.argv)  # `--help` of any command works without a SECRET_KEY
    try:
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
    except DatabaseUnavailable as error:
        sys.stderr.write(f"topoforge: {error}\n")
        sys.exit(1)
    except ConfigurationError as error:
        # A misconfiguration is the operator's to fix: one clear line, no traceback.
        sys.stderr.write(f"topoforge: {error}\n")
        sys.exit(2)
    except Exception as error:
        # Any other command that needs the database: a database that is down is one line too.
        message = unreachable_database_message(error)
        if message is None:
            raise
        sys.stderr.write(f"topoforge: {message}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
