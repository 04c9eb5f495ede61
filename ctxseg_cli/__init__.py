"""ctxseg's command-line tools (``ctxseg-train``, ``ctxseg-demo``, ...; ``tools/*.py`` in a checkout).

Each module builds its parser with the standard library only and imports ctxseg (torch, Detectron2)
after parsing, so ``--help`` answers at once. Every tool takes config overrides as ``key=value`` after
its options, writes where ``--output`` says, reports a user's mistake in one line (``--debug`` shows
the traceback) and exits non-zero on any failure.
"""
