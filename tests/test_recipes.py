"""The dataset recipes (datasets/): each states how its data set is fetched, checked and prepared; its
check passes on the real data folder and refuses files whose facts differ from the published ones."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import crbm
import crbm.data.paths as paths
from crbm import CRBMError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root holds datasets/
from datasets import RECIPES, cmubench, gpmat, mit  # noqa: E402
from datasets.__main__ import main  # noqa: E402


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_every_recipe_says_how_its_data_set_is_fetched_checked_and_prepared(name):
    recipe = RECIPES[name]
    assert recipe.NAME == name and recipe.PUBLISHED and callable(recipe.fetch) and callable(recipe.check)
    doc = recipe.__doc__
    assert doc.index("Fetched:") < doc.index("Checked:") < doc.index("Prepared:")


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_the_data_folder_holds_the_published_data_sets(name, data_root):
    facts = RECIPES[name].check(data_root)
    assert {k: facts[k] for k in RECIPES[name].PUBLISHED} == RECIPES[name].PUBLISHED


def test_a_fact_that_differs_from_the_published_one_is_refused(data_root, monkeypatch):
    monkeypatch.setitem(gpmat.PUBLISHED, "train frames", 2645)
    with pytest.raises(CRBMError, match=r"^gpmat: train frames is 2644, the published data set has 2645: these are "
                       r"not the published files"):
        gpmat.check(data_root)
    monkeypatch.setitem(mit.PUBLISHED, "clip frames", [438, 260, 3127])
    with pytest.raises(CRBMError, match=r"^mit: clip frames is \[438, 260, 3128\], the published data set has "):
        mit.check(data_root)


def test_fetch_finds_the_files_in_place(data_root):
    assert mit.fetch(data_root) == [data_root / "mocap/mit/motion.mat"]
    files = cmubench.fetch(data_root)
    assert len(files) == 30 and {f.parts[-3] for f in files} == {"train", "test"}


def test_prepared_data(data_root):
    data, pipeline = gpmat.prepare(data_root)
    z = np.concatenate(pipeline.transform(data.train))
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-9)  # z-scored on the training clips
    np.testing.assert_allclose(z.std(0), 1, atol=1e-6)
    clip, starts = cmubench.prepare("running", data_root)
    assert clip.fps == 60.0 and starts == cmubench.PUBLISHED["test windows"]["running"]
    full = crbm.read_cmubench(data_root / "mocap/cmu-bench/test/running/running_1.txt")
    assert np.array_equal(clip.frames, full.frames[::2])


def test_runner(data_root, tmp_path, monkeypatch, capsys):
    assert main(["check", "mit", "--dir", str(data_root)]) == 0
    assert capsys.readouterr().out == "mit: clip frames [438, 260, 3128]; columns 108; joints 18; varying columns 49\n"
    monkeypatch.delenv("CRBM_DATA", raising=False)
    monkeypatch.setattr(paths, "CACHE", tmp_path / "cache")
    assert main(["fetch", "mit", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mit: data file 'mocap/mit/motion.mat' not found") and err.count("\n") == 1
    with pytest.raises(SystemExit) as exit_:
        main(["check", "nope"])
    assert exit_.value.code == 2
