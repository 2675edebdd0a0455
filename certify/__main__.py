"""`python -m certify` runs the command line."""

from .cli import main

main()
