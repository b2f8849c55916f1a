"""``python -m al4ml.cli``: the same command line as ``al4ml``."""

from al4ml.cli import main

main()
