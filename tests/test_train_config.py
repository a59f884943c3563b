"""TrainConfig: one field per training option; `segkit train`'s flags come from the fields, the
keras-hub recipe fills the defaults a flag left open, and unknown options are refused."""

import dataclasses

import pytest

from segmodel.cli import train as tool
from segmodel.training import loop as training
from segmodel.training.config import TrainConfig, from_args, make_config


def _config(*flags):
    return from_args(tool.build_parser().parse_args(["--records", "r", "--output-dir", "o",
                                                     *flags]))


def test_every_field_with_a_flag_is_a_flag_of_segkit_train():
    parser_dests = {a.dest for a in tool.build_parser()._actions}
    fields = {f.name for f in dataclasses.fields(TrainConfig) if f.metadata["flag"]}
    assert fields <= parser_dests
    # --init-from names a file to start from, not an option of the run's configuration
    assert parser_dests - fields == {"help", "records", "output_dir", "preset", "list_recipes",
                                     "backbone_preset", "init_from"}


def test_flags_map_to_the_config_and_defaults_agree():
    assert _config() == TrainConfig(image_size=200)
    config = _config("--epochs", "3", "--no-tensorboard", "--augment", "--image-size", "96")
    assert (config.epochs, config.tensorboard, config.augment, config.image_size) == \
        (3, False, True, (96, 96))
    hub = _config("--model", "segformer", "--preset", "some_preset")
    assert (hub.optimizer, hub.schedule, hub.warmup_epochs) == ("adamw", "cosine", 1)
    assert hub.model_options == {"preset": "some_preset"}
    given = _config("--model", "segformer", "--preset", "p", "--optimizer", "sgd")
    assert given.optimizer == "sgd"


def test_unknown_options_are_refused_by_name(tmp_path):
    with pytest.raises(TypeError, match="epoch_count"):
        make_config(epoch_count=3)
    with pytest.raises(TypeError, match="epoch_count"):
        training.train(tmp_path / "records", tmp_path / "run", epoch_count=3)
    assert make_config(TrainConfig(epochs=4), seed=1) == TrainConfig(epochs=4, seed=1)
    with pytest.raises(ValueError, match="multiworker"):
        training.train(tmp_path / "records", tmp_path / "run", strategy="multiworker")
