"""``python -m ghe_backup`` and the ``ghe-backup-service`` console script.

The one place where user-facing errors become one line on stderr and an exit code.
"""

from __future__ import annotations

import logging
import sys
import traceback

from ghe_backup.errors import GheBackupError


def main(argv: list[str] | None = None) -> int:
    from ghe_backup.backup.cli import PROG, build_parser
    from ghe_backup.backup.logs import configure_logging

    args = build_parser().parse_args(argv)
    configure_logging(logging.DEBUG if args.debug else logging.INFO)
    try:
        return int(args.func(args))
    except GheBackupError as err:
        if args.debug:
            traceback.print_exc()
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return int(err.exit_code)


if __name__ == "__main__":
    sys.exit(main())
