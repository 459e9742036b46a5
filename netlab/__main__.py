"""`python -m netlab` runs the command-line interface."""

from __future__ import annotations

from netlab.cli.entry import main

if __name__ == "__main__":
    main()
