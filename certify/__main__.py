"""`python -m certify` runs the command line."""

from .interfaces.cli import main

main()
