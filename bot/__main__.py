"""Allow `python -m bot`, the same as the `clinicbot` command."""

from bot.cli import main

main()
