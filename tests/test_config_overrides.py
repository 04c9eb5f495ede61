"""Config loading and ``key=value`` overrides: unknown keys, types, None, new keys, checks of train settings."""
import pytest
from omegaconf import OmegaConf

from ctxseg.config import apply_overrides, load_config, validate_train_config
from ctxseg.utils.errors import ConfigError

from .conftest import TINY_TOY_CONFIG

IIWA_TOY = "configs/toy/iiwa_swin_toy.py"


@pytest.fixture(scope="module")
def base():
    return load_config(TINY_TOY_CONFIG)


def _apply(base, *overrides):
    return apply_overrides(base.copy(), overrides)


def test_a_typo_is_an_error_with_the_close_matches(base):
    with pytest.raises(ConfigError, match=r"no key 'train.max_itr'; did you mean train.max_iter\?"):
        _apply(base, "train.max_itr=5")
    with pytest.raises(ConfigError, match=r"did you mean train.max_iter"):
        _apply(base, "trian.max_iter=5")
    with pytest.raises(ConfigError, match=r"model.test_mode"):
        _apply(base, "model.test_mod=slide")


def test_values_must_have_the_type_they_replace(base):
    for override, expected in [("train.max_iter=abc", "expects an integer"),
                               ("train.max_iter=1.5", "expects an integer"),
                               ("optimizer.lr=fast", "expects a number"), ("train.amp.enabled=1", "true or false"),
                               ("model.backbone=3", "is a config section")]:
        with pytest.raises(ConfigError, match=expected):
            _apply(base, override)
    cfg = _apply(base, "optimizer.lr=1", "train.output_dir=123", "train.max_iter=12", "train.amp.enabled=true")
    assert cfg.optimizer.lr == 1.0 and isinstance(cfg.optimizer.lr, float)
    assert cfg.train.output_dir == "123" and cfg.train.max_iter == 12 and cfg.train.amp.enabled is True


@pytest.mark.parametrize("word", ["None", "none", "null"])
def test_none_words_mean_none(base, word):
    cfg = _apply(base, f"model.tta_scales={word}", f"model.head.loss.class_weight={word}")
    assert cfg.model.tta_scales is None and cfg.model.head.loss.class_weight is None
    assert _apply(base, "train.output_dir='None'").train.output_dir == "None"  # quoted: the string


def test_new_keys_only_with_a_plus(base):
    assert _apply(base, "+train.extra=[1, 2]").train.extra == [1, 2]
    with pytest.raises(ConfigError, match="exists already"):
        _apply(base, "+train.max_iter=3")
    with pytest.raises(ConfigError, match="not of the form key=value"):
        _apply(base, "train")


def test_arguments_of_the_called_class_need_no_plus():
    cfg = load_config(IIWA_TOY, ["model.backbone.bottom_up.use_checkpoint=True"])
    assert cfg.model.backbone.bottom_up.use_checkpoint is True
    with pytest.raises(ConfigError, match="did you mean model.backbone.bottom_up.use_checkpoint"):
        load_config(IIWA_TOY, ["model.backbone.bottom_up.use_chekpoint=True"])
    with pytest.raises(ConfigError, match="expects true or false"):
        load_config(IIWA_TOY, ["model.backbone.bottom_up.use_checkpoint=3"])


def test_list_items_by_index(base):
    cfg = _apply(base, "dataloader.train.mapper.augmentations.1.crop_size=[32,32]")
    assert list(cfg.dataloader.train.mapper.augmentations[1].crop_size) == [32, 32]


@pytest.mark.parametrize("override, message", [
    ("train.max_iter=0", "train.max_iter must be a positive integer"),
    ("train.max_iter=-3", "train.max_iter must be a positive integer"),
    ("train.checkpointer.period=0", "train.checkpointer.period must be a positive integer"),
    ("train.eval_period=-1", "train.eval_period must be an integer >= 0"),
    ("train.log_period=0", "train.log_period must be a positive integer"),
    ("train.device=gpu", "train.device must be"),
    ("train.output_dir=''", "train.output_dir must be a non-empty path"),
    ("train.max_iter=None", "train.max_iter must be a positive integer"),
])
def test_train_settings_no_run_can_use(base, override, message):
    with pytest.raises(ConfigError, match=message):
        validate_train_config(_apply(base, override))


def test_the_shipped_configs_pass_the_checks(base):
    validate_train_config(base)
    validate_train_config(load_config(IIWA_TOY))


def test_loading_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.py"):
        load_config(str(tmp_path / "nope.py"))
    broken = tmp_path / "broken.py"
    broken.write_text("model = dict(\n")
    with pytest.raises(ConfigError, match="broken.py"):
        load_config(str(broken))
    failing = tmp_path / "failing.py"
    failing.write_text("from ctxseg.no_such_module import x\n")
    with pytest.raises(ConfigError, match="failing.py.*no_such_module"):
        load_config(str(failing))
    with pytest.raises(ConfigError, match="is not a file"):
        load_config(str(tmp_path))
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match="must be a LazyConfig"):
        load_config(str(tmp_path / "notes.txt"))
    assert OmegaConf.select(load_config(TINY_TOY_CONFIG, ["train.max_iter=7"]), "train.max_iter") == 7
