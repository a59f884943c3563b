"""Shared fixtures: a small generated Pets folder and records built from it (session scope).

- `pets_dir`: make_sample_data(tmp, 48, seed=0, min_side=96, max_side=160), clean (no quirks).
- `quirky_pets_dir`: a small Pets folder with every real-world quirk (see its docstring).
- `records_dir`: build_records(pets_dir, tmp, split="holdout", val_size=12, seed=1337,
  num_shards=2, workers=1, progress=False) -> splits "train" (36) and "validation" (12).
- `sam_preset_parent` / `sam_predictor`: the seeded tiny SAM (segmodel.testing) saved in a
  folder named like the built-in preset "sam_base_sa1b" (loading it by that relative name must
  read the folder, not go to Kaggle), and a SamPredictor loaded from it (module scope).
Treat them as read-only; copy them before changing anything.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # test-process noise only; library never reads it

import pytest


@pytest.fixture(scope="session")
def pets_dir(tmp_path_factory):
    from segdata.synthetic.pets import make_sample_data

    return make_sample_data(tmp_path_factory.mktemp("pets") / "pets", 48, seed=0,
                            min_side=96, max_side=160)


@pytest.fixture(scope="session")
def quirky_pets_dir(tmp_path_factory):
    """A generated Pets folder with every real-world quirk (repaired, skipped, ignored
    samples; OUT/quirks.json says which): make_sample_data(tmp, 20, seed=11, with_quirks=True,
    min_side=48, max_side=72)."""
    from segdata.synthetic.pets import make_sample_data

    return make_sample_data(tmp_path_factory.mktemp("quirky") / "pets", 20, seed=11,
                            with_quirks=True, min_side=48, max_side=72)


@pytest.fixture(scope="session")
def records_dir(pets_dir, tmp_path_factory):
    from segdata.records.convert import build_records

    out = tmp_path_factory.mktemp("records") / "records"
    build_records(pets_dir, out, split="holdout", val_size=12, seed=1337, num_shards=2,
                  workers=1, progress=False)
    return out


SAM_PRESET_NAME = "sam_base_sa1b"


@pytest.fixture(scope="module")
def sam_preset_parent(tmp_path_factory):
    from segmodel.testing import save_tiny_sam

    parent = tmp_path_factory.mktemp("sam_preset")
    save_tiny_sam(parent / SAM_PRESET_NAME, seed=0)
    return parent


@pytest.fixture(scope="module")
def sam_predictor(sam_preset_parent):
    from segmodel.sam import SamPredictor

    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(sam_preset_parent)
        return SamPredictor.from_preset(SAM_PRESET_NAME)
