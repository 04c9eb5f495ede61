#!/usr/bin/env python
"""Draw dataset images with their ground truth: ``ctxseg-browse`` (see ``--help``)."""
import os
import sys

# A checkout's tools run the checkout's code, installed or not.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ctxseg_cli.browse_dataset import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
