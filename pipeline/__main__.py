"""`python -m pipeline` is the `pipeline` command."""

from pipeline.cli.app import main

main()
