#!/usr/bin/env python
"""Prepare the ADE20K labels: ``ctxseg-prepare-ade20k`` (see ``--help``)."""
import os
import sys

# A checkout's tools run the checkout's code, installed or not.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ctxseg_cli.prepare_ade20k import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
