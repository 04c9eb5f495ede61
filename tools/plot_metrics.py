#!/usr/bin/env python
"""Plot the curves of a training run: ``ctxseg-plot`` (see ``--help``)."""
import os
import sys

# A checkout's tools run the checkout's code, installed or not.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ctxseg_cli.plot_metrics import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
