#!/usr/bin/env python
"""Make the built-in toy dataset: ``ctxseg-make-toy`` (see ``--help``)."""
import os
import sys

# A checkout's tools run the checkout's code, installed or not.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ctxseg_cli.make_toy_dataset import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
