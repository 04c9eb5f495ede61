"""What every ctxseg tool shares: the parser's common options and the way errors end the program."""
import argparse
import errno
import re
import sys

__all__ = ["tool_parser", "add_config_options", "parse_tool_args", "add_precision_option", "add_preparation_options",
           "config_overrides", "positive_int", "run_tool", "user_message", "PRECISION_NAMES"]

# The names of ctxseg.inference.PRECISIONS (repeated here: a parser must not import torch).
PRECISION_NAMES = ("fp32", "bf16", "fp16")

# A config override: a dotted key (optionally with a leading + for a new key), "=", a value.
_OVERRIDE = re.compile(r"^\+?[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*=")

# errno values that mean "the disk is full" rather than a bug.
_DISK_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def tool_parser(doc, prog=None):
    """An ``ArgumentParser`` whose description is ``doc`` (a module docstring with its examples) and ``--debug``."""
    parser = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return parser


def add_config_options(parser, required=True, opts_alias=False):
    """``--config-file`` and the trailing ``key=value`` overrides (``--opts`` too, where ``opts_alias``)."""
    parser.add_argument("--config-file", required=required, metavar="FILE",
                        help="a LazyConfig (.py), a yacs config (.yaml) or a model-zoo name")
    if opts_alias:
        parser.add_argument("--opts", nargs=argparse.REMAINDER, default=[], metavar="KEY=VALUE",
                            help="the same as the trailing overrides (kept for older command lines)")
    parser.add_argument("overrides", nargs=argparse.REMAINDER, metavar="KEY=VALUE",
                        help="config overrides after the options, e.g. train.max_iter=100 optimizer.lr=1e-4 "
                             "(a new key needs a leading +; None/null for None); a YAML config takes its own "
                             "keys, e.g. SOLVER.MAX_ITER=100")


def parse_tool_args(parser, argv=None):
    """``parser.parse_args(argv)``, where the ``key=value`` overrides may stand anywhere on the line.

    argparse alone would give an override that follows an option taking several values (``--input a.png
    train.init_checkpoint=m.pth``) to that option, and one followed by options to nothing at all.
    Everything after ``--opts`` stays as it is.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(action.dest == "overrides" for action in parser._actions):
        return parser.parse_args(argv)
    options, overrides = [], []
    for i, token in enumerate(argv):
        if token == "--opts":
            options.extend(argv[i:])
            break
        (overrides if _OVERRIDE.match(token) else options).append(token)
    args = parser.parse_args(options)
    args.overrides = overrides + list(args.overrides or [])
    return args


def add_precision_option(parser, what):
    """``--precision fp32|bf16|fp16``: autocast for ``what`` (float32 resizing, softmax and window matching)."""
    parser.add_argument("--precision", choices=PRECISION_NAMES, default="fp32",
                        help=f"precision of {what}: bf16/fp16 run under autocast (default fp32)")


def config_overrides(args):
    """Every ``key=value`` override of the command line (the trailing ones and those after ``--opts``)."""
    from ctxseg.utils.errors import UserError

    overrides = list(args.overrides or []) + list(getattr(args, "opts", None) or [])
    for item in overrides:
        if item.startswith("-"):
            raise UserError(f"'{item}' comes after the config overrides: put the options first, then the "
                            f"key=value overrides")
    return overrides


def positive_int(text):
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _chain(error, implicit):
    """``error`` and the exceptions it was raised from (``implicit``: also those it was raised while handling)."""
    seen = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or (error.__context__ if implicit else None)
    return seen


def user_message(error):
    """The one-line message of an error that is the user's to fix (or the machine's, like a full disk); else None."""
    from ctxseg.utils.errors import UserError

    for cause in _chain(error, implicit=False):
        if isinstance(cause, UserError):
            return str(cause)
    # Libraries (torch.save among them) re-raise a full disk as their own error.
    for cause in _chain(error, implicit=True):
        if isinstance(cause, OSError) and cause.errno in _DISK_FULL:
            where = f" while writing {cause.filename}" if cause.filename else ""
            return f"no space left on device{where} ({cause.strerror or cause})"
    if isinstance(error, (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)):
        return f"{error.strerror}: {error.filename}" if error.filename else str(error)
    return None


def run_tool(function, args):
    """Run ``function(args)`` and return the exit status: 0, or non-zero with a one-line message on stderr.

    A user's mistake (``ctxseg.utils.errors.UserError``, a missing or unreadable file, a full disk)
    prints ``error: <message>`` without a traceback, unless ``--debug``; any other exception is a bug
    and keeps its traceback. An exception with an ``exit_code`` attribute (e.g. an interrupted
    training) ends with that status.
    """
    try:
        import ctxseg  # noqa: F401  (first: it patches Detectron2 and registers models and datasets)

        status = function(args)
    except KeyboardInterrupt:
        if getattr(args, "debug", False):
            raise
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001  (classified below: user mistakes get one line, bugs a traceback)
        message = None if getattr(args, "debug", False) else user_message(e)
        if message is None:
            raise
        print(f"error: {message}", file=sys.stderr)
        return getattr(e, "exit_code", 2)
    return status if isinstance(status, int) else 0


def add_preparation_options(parser, root_help):
    """The options every dataset preparation tool takes: --root, --workers, --allow-partial."""
    import os

    parser.add_argument("--root", default=None, help=root_help)
    parser.add_argument("--workers", type=positive_int, default=min(4, os.cpu_count() or 1),
                        help="parallel worker processes")
    parser.add_argument("--allow-partial", action="store_true",
                        help="convert a tree with fewer files than the official release (warn instead of failing)")
