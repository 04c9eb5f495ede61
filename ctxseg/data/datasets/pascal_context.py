"""Pascal Context: 59- and 459-class catalog entries over the VOC2010 images.

Layout under ``$DETECTRON2_DATASETS``::

    VOCdevkit/VOC2010/JPEGImages/<id>.jpg
    VOCdevkit/VOC2010/trainval_merged.json                     59-class source (RLEs, images[].phase)
    VOCdevkit/VOC2010/trainval/<id>.mat                        459-class source ("LabelMap", 1-based)
    VOCdevkit/VOC2010/annotations_ctx59/{training,validation}/<id>.png    0..58, 255   (prepared)
    VOCdevkit/VOC2010/annotations_ctx459/{training,validation}/<id>.tif   0..458, 65535 (prepared, uint16)

The split of an entry is the set of its prepared label files (the JSON's ``phase`` decides it);
``tools/prepare_pascal_context.py`` writes them.
"""
import functools
import os

import numpy as np

from .common import MissingDataError, datasets_root, match_or_report, register_sem_seg_dataset, update_dataset_roots
from .palette import bit_palette

__all__ = [
    "CONTEXT459_CLASSES",
    "CONTEXT59_IDS",
    "CONTEXT59_CLASSES",
    "CONTEXT_SPLITS",
    "PREPARE_HINT",
    "pascal_context_root",
    "context459_to_59",
    "load_pascal_context",
]

# The official labels.txt of the 459-class release: id i (1-based) is CONTEXT459_CLASSES[i - 1].
CONTEXT459_CLASSES = (
    "accordion|aeroplane|air conditioner|antenna|artillery|ashtray|atrium|baby carriage|bag|ball|"
    "balloon|bamboo weaving|barrel|baseball bat|basket|basketball backboard|bathtub|bed|bedclothes|"
    "beer|bell|bench|bicycle|binoculars|bird|bird cage|bird feeder|bird nest|blackboard|board|boat|"
    "bone|book|bottle|bottle opener|bowl|box|bracelet|brick|bridge|broom|brush|bucket|building|bus|"
    "cabinet|cabinet door|cage|cake|calculator|calendar|camel|camera|camera lens|can|candle|"
    "candle holder|cap|car|card|cart|case|casette recorder|cash register|cat|cd|cd player|ceiling|"
    "cell phone|cello|chain|chair|chessboard|chicken|chopstick|clip|clippers|clock|closet|cloth|"
    "clothes tree|coffee|coffee machine|comb|computer|concrete|cone|container|control booth|"
    "controller|cooker|copying machine|coral|cork|corkscrew|counter|court|cow|crabstick|crane|crate|"
    "cross|crutch|cup|curtain|cushion|cutting board|dais|disc|disc case|dishwasher|dock|dog|dolphin|"
    "door|drainer|dray|drink dispenser|drinking machine|drop|drug|drum|drum kit|duck|dumbbell|"
    "earphone|earrings|egg|electric fan|electric iron|electric pot|electric saw|electronic keyboard|"
    "engine|envelope|equipment|escalator|exhibition booth|extinguisher|eyeglass|fan|faucet|"
    "fax machine|fence|ferris wheel|fire extinguisher|fire hydrant|fire place|fish|fish tank|"
    "fishbowl|fishing net|fishing pole|flag|flagstaff|flame|flashlight|floor|flower|fly|foam|food|"
    "footbridge|forceps|fork|forklift|fountain|fox|frame|fridge|frog|fruit|funnel|furnace|"
    "game controller|game machine|gas cylinder|gas hood|gas stove|gift box|glass|glass marble|globe|"
    "glove|goal|grandstand|grass|gravestone|ground|guardrail|guitar|gun|hammer|hand cart|handle|"
    "handrail|hanger|hard disk drive|hat|hay|headphone|heater|helicopter|helmet|holder|hook|horse|"
    "horse-drawn carriage|hot-air balloon|hydrovalve|ice|inflator pump|ipod|iron|ironing board|jar|"
    "kart|kettle|key|keyboard|kitchen range|kite|knife|knife block|ladder|ladder truck|ladle|laptop|"
    "leaves|lid|life buoy|light|light bulb|lighter|line|lion|lobster|lock|machine|mailbox|mannequin|"
    "map|mask|mat|match book|mattress|menu|metal|meter box|microphone|microwave|mirror|missile|model|"
    "money|monkey|mop|motorbike|mountain|mouse|mouse pad|musical instrument|napkin|net|newspaper|oar|"
    "ornament|outlet|oven|oxygen bottle|pack|pan|paper|paper box|paper cutter|parachute|parasol|"
    "parterre|patio|pelage|pen|pen container|pencil|person|photo|piano|picture|pig|pillar|pillow|"
    "pipe|pitcher|plant|plastic|plate|platform|player|playground|pliers|plume|poker|poker chip|pole|"
    "pool table|postcard|poster|pot|pottedplant|printer|projector|pumpkin|rabbit|racket|radiator|"
    "radio|rail|rake|ramp|range hood|receiver|recorder|recreational machines|remote control|road|"
    "robot|rock|rocket|rocking horse|rope|rug|ruler|runway|saddle|sand|saw|scale|scanner|scissors|"
    "scoop|screen|screwdriver|sculpture|scythe|sewer|sewing machine|shed|sheep|shell|shelves|shoe|"
    "shopping cart|shovel|sidecar|sidewalk|sign|signal light|sink|skateboard|ski|sky|sled|slippers|"
    "smoke|snail|snake|snow|snowmobiles|sofa|spanner|spatula|speaker|speed bump|spice container|"
    "spoon|sprayer|squirrel|stage|stair|stapler|stick|sticky note|stone|stool|stove|straw|stretcher|"
    "sun|sunglass|sunshade|surveillance camera|swan|sweeper|swim ring|swimming pool|swing|switch|"
    "table|tableware|tank|tap|tape|tarp|telephone|telephone booth|tent|tire|toaster|toilet|tong|tool|"
    "toothbrush|towel|toy|toy car|track|train|trampoline|trash bin|tray|tree|tricycle|tripod|trophy|"
    "truck|tube|turtle|tvmonitor|tweezers|typewriter|umbrella|unknown|vacuum cleaner|vending machine|"
    "video camera|video game console|video player|video tape|violin|wakeboard|wall|wallet|wardrobe|"
    "washing machine|watch|water|water dispenser|water pipe|water skate board|watermelon|whale|wharf|"
    "wheel|wheelchair|window|window blinds|wineglass|wire|wood|wool"
).split("|")
# The 59 most frequent classes (1-based ids of the 459 list); every other id, background included,
# is ignored.
CONTEXT59_IDS = [
    2, 9, 18, 19, 22, 23, 25, 31, 33, 34, 44, 45, 46, 59, 65, 68, 72, 80, 85, 98, 104, 105, 113, 115, 144,
    158, 159, 162, 187, 189, 207, 220, 232, 258, 259, 260, 284, 295, 296, 308, 324, 326, 347, 349, 354,
    355, 360, 366, 368, 397, 415, 416, 420, 424, 427, 440, 445, 454, 458,
]
CONTEXT59_CLASSES = [CONTEXT459_CLASSES[i - 1] for i in CONTEXT59_IDS]
PREPARE_HINT = "python tools/prepare_pascal_context.py"
# name -> (number of classes, split folder)
CONTEXT_SPLITS = {
    "pascal_context_59_sem_seg_train": (59, "training"),
    "pascal_context_59_sem_seg_val": (59, "validation"),
    "pascal_context_459_sem_seg_train": (459, "training"),
    "pascal_context_459_sem_seg_val": (459, "validation"),
}
_LABEL_FORMAT = {59: ("annotations_ctx59", ".png", 255), 459: ("annotations_ctx459", ".tif", 65535)}


def pascal_context_root():
    """The VOC2010 folder, $DETECTRON2_DATASETS/VOCdevkit/VOC2010, read at call time."""
    return os.path.join(datasets_root(), "VOCdevkit", "VOC2010")


def context459_to_59(label459):
    """Map 1-based 459-class ids (0 = background) to the 59 classes 0..58; anything else -> 255."""
    lut = np.full(max(int(np.max(label459, initial=0)), 459) + 1, 255, dtype=np.uint8)
    lut[CONTEXT59_IDS] = np.arange(len(CONTEXT59_IDS), dtype=np.uint8)
    return lut[np.asarray(label459, dtype=np.int64)]


def _split_dirs(name):
    num_classes, split = CONTEXT_SPLITS[name]
    root = pascal_context_root()
    return os.path.join(root, "JPEGImages"), os.path.join(root, _LABEL_FORMAT[num_classes][0], split)


def load_pascal_context(name):
    """Dataset dicts of the Pascal Context entry ``name``: one per prepared label file, sorted."""
    image_dir, label_dir = _split_dirs(name)
    label_ext = _LABEL_FORMAT[CONTEXT_SPLITS[name][0]][1]
    update_dataset_roots(name, image_root=image_dir, sem_seg_root=label_dir)
    for kind, folder in (("image", image_dir), ("label", label_dir)):
        if not os.path.isdir(folder):
            raise MissingDataError(
                f"The {kind} folder {folder} of dataset '{name}' does not exist. Prepare it with: "
                f"{PREPARE_HINT}. Dataset roots come from $DETECTRON2_DATASETS (default 'datasets')."
            )
    stems = sorted(f[: -len(label_ext)] for f in os.listdir(label_dir) if f.endswith(label_ext))
    if not stems:
        raise MissingDataError(f"No '*{label_ext}' label found in {label_dir}. Prepare it with: {PREPARE_HINT}.")
    # JPEGImages holds every VOC image; a label without its image is what is missing.
    images = {stem: os.path.join(image_dir, stem + ".jpg") for stem in stems}
    present = [stem for stem in stems if os.path.isfile(images[stem])]
    match_or_report(f"labels in {label_dir} have no image", [images[s] for s in stems if s not in present],
                    len(stems), f" Download the VOC2010 JPEGImages into {image_dir}.")
    return [{"file_name": images[stem], "sem_seg_file_name": os.path.join(label_dir, stem + label_ext),
             "reduce_zero_label": False} for stem in present]


def _register_all_pascal_context():
    for name, (num_classes, _) in CONTEXT_SPLITS.items():
        image_dir, label_dir = _split_dirs(name)
        classes = CONTEXT59_CLASSES if num_classes == 59 else CONTEXT459_CLASSES
        register_sem_seg_dataset(
            name,
            functools.partial(load_pascal_context, name),
            stuff_classes=list(classes),
            stuff_colors=bit_palette(num_classes),
            ignore_label=_LABEL_FORMAT[num_classes][2],
            image_root=image_dir,
            sem_seg_root=label_dir,
        )


_register_all_pascal_context()
