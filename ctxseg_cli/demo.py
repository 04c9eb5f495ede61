"""Draw a model's predictions on images and optionally save the label maps (``ctxseg.Predictor`` underneath).

    ctxseg-demo --config-file CFG --input photo.jpg --output out/ train.init_checkpoint=model_final.pth
    ctxseg-demo --config-file CFG --input "images/*.png" --gt annotations/ --output out/ train.init_checkpoint=M
    ctxseg-demo --config-file CFG --input images/ --with-gt --output out/ train.init_checkpoint=M
                # --with-gt: the ground truth of inputs that belong to the config's test dataset
    ctxseg-demo --config-file CFG --input images/ --save-labels --save-probabilities --precision bf16 \\
                --output out/ train.init_checkpoint=M

(``python tools/demo.py`` in a checkout is the same command; ``--opts key=value ...`` is accepted too.)
Each input gives ``OUTPUT/<name>.png``: ``input | prediction | ground truth`` (when one is known) and a
legend of the classes present, drawn upscaled when small and downscaled when large (see ``--min-side``,
``--max-side``). ``--save-labels`` writes ``OUTPUT/labels/<name>.png`` (class ids at the input's size: uint8,
or uint16 beyond 255 classes), ``--save-probabilities`` ``OUTPUT/probabilities/<name>.npy`` ((K, H, W)
float32). ``<name>`` is the input's path relative to the folder holding all inputs, so inputs with the same
file name in different folders never overwrite each other. Label maps of large images are computed band by
band, so an 8000x8000 photo needs a few hundred MB beyond the image itself.
"""
import os
import sys

from .runner import (
    add_config_options,
    add_precision_option,
    config_overrides,
    parse_tool_args,
    positive_int,
    run_tool,
    tool_parser,
)

__all__ = ["build_parser", "main"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def build_parser():
    """The command-line interface."""
    parser = tool_parser(__doc__, prog="ctxseg-demo")
    parser.add_argument("--input", nargs="+", required=True, help="image files, folders or glob patterns")
    parser.add_argument("--output", required=True, help="folder for the pictures (and label maps)")
    parser.add_argument("--gt", help="folder of label files named like the images (matched literally; for inputs in "
                        "sub-folders, in the same sub-folders)")
    parser.add_argument("--with-gt", action="store_true",
                        help="take the ground truth of inputs that belong to the config's test dataset")
    parser.add_argument("--dataset", help="dataset whose ground truth --with-gt reads (default: the config's test set)")
    parser.add_argument("--max-images", type=int, default=0, help="draw at most this many images (0: all)")
    parser.add_argument("--alpha", type=float, default=0.6, help="opacity of the drawn classes")
    parser.add_argument("--save-labels", action="store_true", help="also write the label maps as PNG")
    parser.add_argument("--save-probabilities", action="store_true", help="also write the probabilities as .npy")
    parser.add_argument("--no-pictures", action="store_true", help="write no pictures (only the label maps)")
    parser.add_argument("--min-side", type=positive_int, default=512,
                        help="draw smaller images upscaled by a whole factor to at least this long side")
    parser.add_argument("--max-side", type=positive_int, default=1600,
                        help="draw larger images downscaled to this long side")
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    add_precision_option(parser, "the inference")
    add_config_options(parser, opts_alias=True)
    return parser


def expand_inputs(patterns):
    """Image paths from files, folders and glob patterns, sorted, without duplicates."""
    import glob

    from ctxseg.utils.errors import DataError

    paths = []
    for pattern in patterns:
        if os.path.isdir(pattern):
            found = [os.path.join(pattern, f) for f in sorted(os.listdir(pattern))]
        elif os.path.isfile(pattern):
            found = [pattern]
        else:
            found = sorted(glob.glob(os.path.expanduser(pattern)))
            if not found:
                raise DataError(f"--input {pattern}: no such file, folder or matching files")
        paths += [f for f in found if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(f)]
    if not paths:
        raise DataError(f"--input {' '.join(patterns)}: no image files found")
    return list(dict.fromkeys(os.path.normpath(p) for p in paths))


def output_names(paths):
    """``(root, names)``: each path relative to ``root``, the deepest folder holding every input, without its
    extension (kept where two inputs differ only by it): distinct inputs never share a name."""
    absolute = [os.path.abspath(p) for p in paths]
    root = os.path.commonpath([os.path.dirname(p) for p in absolute])
    relative = [os.path.relpath(p, root) for p in absolute]
    stems = [os.path.splitext(r)[0] for r in relative]
    repeated = {s for s in stems if stems.count(s) > 1}
    return root, [r if s in repeated else s for r, s in zip(relative, stems)]


def find_label_file(gt_folder, name):
    """The file in ``gt_folder`` whose path without extension is ``name`` (compared literally, never as a pattern)."""
    from ctxseg.utils.errors import DataError

    folder = os.path.join(gt_folder, os.path.dirname(name))
    stem = os.path.basename(name)
    try:
        candidates = sorted(f for f in os.listdir(folder) if os.path.splitext(f)[0] == stem)
    except FileNotFoundError:
        candidates = []
    if not candidates:
        raise DataError(f"--gt {gt_folder}: no label file named {os.path.join(os.path.dirname(name), stem)}.* "
                        f"in {folder}")
    return os.path.join(folder, candidates[0])


def _write_png(path, array):
    import io

    from PIL import Image

    from ctxseg.utils import atomic_write

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    with atomic_write(path) as f:
        f.write(buffer.getvalue())


def _write_npy(path, array):
    import numpy as np

    from ctxseg.utils import atomic_write

    with atomic_write(path) as f:
        np.save(f, array)


def run(args):
    """Predict, draw and save every input of ``args``."""
    import tqdm
    from detectron2.utils.logger import setup_logger

    from ctxseg.data import get_dataset_dicts
    from ctxseg.data.mapper import read_image
    from ctxseg.inference import Predictor
    from ctxseg.utils.errors import DataError, UserError
    from ctxseg.visualization import prediction_picture

    logger = setup_logger(name="ctxseg")
    if args.no_pictures and not (args.save_labels or args.save_probabilities):
        raise UserError("--no-pictures without --save-labels or --save-probabilities would write nothing")
    if os.path.exists(args.output) and not os.path.isdir(args.output):
        raise UserError(f"--output {args.output} is a file; give a folder (it is created if needed)")
    paths = expand_inputs(args.input)
    if args.max_images > 0:
        paths = paths[: args.max_images]
    _, names = output_names(paths)
    predictor = Predictor(args.config_file, device=args.device, precision=args.precision,
                          overrides=config_overrides(args))
    records = {}
    if args.with_gt:
        dataset = args.dataset or predictor.cfg.dataloader.test.dataset.name
        records = {os.path.abspath(d["file_name"]): d for d in get_dataset_dicts(dataset)}

    unreadable = []
    for path, name in tqdm.tqdm(list(zip(paths, names)), desc="demo", unit="img"):
        record = dict(records.get(os.path.abspath(path), {}))
        if args.gt:
            record["sem_seg_file_name"] = find_label_file(args.gt, name)
        try:
            image = read_image(path, "RGB")
        except DataError as e:  # one damaged file in a folder should not cost the others' pictures
            logger.error("skipped: %s", e)
            unreadable.append(path)
            continue
        sample = predictor.sample(image, dataset_dict=dict(record, file_name=path))
        result = predictor.predict_samples([sample], probabilities=args.save_probabilities)[0]
        for key in ("image", "tta_views"):  # only the ground truth is still needed
            sample.pop(key, None)
        if args.save_labels:
            _write_png(os.path.join(args.output, "labels", name + ".png"), result.labels)
        if args.save_probabilities:
            _write_npy(os.path.join(args.output, "probabilities", name + ".npy"), result.probabilities)
        if not args.no_pictures:
            ground_truth = sample["sem_seg"].numpy() if "sem_seg" in sample else None
            picture = prediction_picture(image, result.labels, result.class_names, result.palette, ground_truth,
                                         alpha=args.alpha, ignore_label=predictor.mapper.ignore_label,
                                         min_side=args.min_side, max_side=args.max_side)
            _write_png(os.path.join(args.output, name + ".png"), picture)
    written = [] if args.no_pictures else ["pictures"]
    written += ["label maps"] * args.save_labels + ["probabilities"] * args.save_probabilities
    print(f"wrote the {' and '.join(written)} of {len(paths) - len(unreadable)} images to {args.output}")
    if unreadable:
        shown = ", ".join(unreadable[:5]) + (f", ... ({len(unreadable)} in all)" if len(unreadable) > 5 else "")
        print(f"error: {len(unreadable)} of {len(paths)} inputs could not be read as images: {shown}", file=sys.stderr)
        return 1
    return 0


def main(argv=None):
    """Entry point of ``ctxseg-demo``."""
    return run_tool(run, parse_tool_args(build_parser(), argv))


if __name__ == "__main__":
    sys.exit(main())
