"""``python -m stecheck``."""

from stecheck.cli.app import main

main()
