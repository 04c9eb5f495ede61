#!/usr/bin/env python
"""Convert a checkpoint of another project into a ctxseg checkpoint: ``ctxseg-convert`` (see ``--help``)."""
import os
import sys

# A checkout's tools run the checkout's code, installed or not.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ctxseg_cli.convert_weights import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
