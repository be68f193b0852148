"""``python -m stecheck``."""

from stecheck.cli import main

main()
