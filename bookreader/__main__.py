"""`python -m bookreader ...` runs the command line."""

from bookreader.cli.app import main

main()
