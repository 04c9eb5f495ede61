#!/usr/bin/env python
"""Count a config model's parameters and flops: ``ctxseg-analyze`` (see ``--help``)."""
import os
import sys

# A checkout's tools run the checkout's code, installed or not.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ctxseg_cli.analyze_model import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
