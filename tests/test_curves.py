"""Training curves: the history a model keeps (in memory and in its checkpoint) and its picture."""

from __future__ import annotations

import matplotlib.image
import pytest
import torch

import crbm
from crbm.cli import main
from crbm.engine.curves import check_history, history_of, plot_training
from crbm.motion.model import MotionModel, train_motion_model


@pytest.fixture(scope="module")
def two_layer(data_root):
    d = data_root / "mocap" / "cmu" / "35"
    clips = [crbm.read_motion(d / f"35_0{i}.amc", asf=d / "35.asf") for i in (1, 2)]
    return train_motion_model(clips, kind="two-layer", hidden=6, epochs=3, seed=0)


def test_a_motion_model_keeps_its_history_through_its_checkpoint(two_layer, tmp_path):
    h = two_layer.history
    assert [(e["phase"], e["epoch"]) for e in h] == [(f"layer {i}", e) for i in (1, 2) for e in (1, 2, 3)]
    assert all(isinstance(e["recon_error"], float) and e["recon_error"] > 0 for e in h)
    again = MotionModel.load(two_layer.save(tmp_path / "m.safetensors"))
    assert again.history == h
    assert history_of(tmp_path / "m.safetensors") == h


def test_fit_checkpoints_carry_their_history(tmp_path, gen):
    data = (torch.rand(30, 5, generator=gen) < 0.5).float()
    config = crbm.TrainConfig(epochs=4, batch_size=10, checkpoint=str(tmp_path / "r.safetensors"), verbose=False,
                              progress=False)
    history = crbm.fit(crbm.RBM(5, 3, generator=gen), data, config)
    assert history_of(tmp_path / "r.safetensors") == history


def test_plot_draws_one_panel_per_figure_and_one_line_per_phase(two_layer, tmp_path):
    fig = plot_training(two_layer)
    (ax,) = fig.axes
    assert ax.get_ylabel() == "recon_error" and [ln.get_label() for ln in ax.lines] == ["layer 1", "layer 2"]
    assert list(ax.lines[1].get_xdata()) == [1, 2, 3]
    history = [{"epoch": e, "recon_error": 100.0 / e**2, "free_energy_gap": 0.1 * e, "lr": 0.1} for e in (1, 2, 3, 4)]
    fig = plot_training(history)
    assert [a.get_ylabel() for a in fig.axes] == ["recon_error", "free_energy_gap"]  # lr is a setting
    assert [a.get_yscale() for a in fig.axes] == ["log", "linear"]  # 100 -> 6.25 spans more than 10x
    path = plot_training(history, tmp_path / "c.png", figures=["free_energy_gap"])
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100


def _untrained(tmp_path):
    return crbm.save_checkpoint(tmp_path / "untrained.safetensors", crbm.RBM(4, 3))  # no trainer state


def test_what_has_no_history_says_so(tmp_path):
    with pytest.raises(crbm.CRBMError, match="untrained.safetensors: no training history"):
        history_of(_untrained(tmp_path))
    with pytest.raises(crbm.CRBMError, match=r"figures \['nope'\]: the history records \['recon_error'\]"):
        plot_training([{"epoch": 1, "recon_error": 1.0}], figures=["nope"])
    for bad in ({"epoch": 1}, [{"epoch": "1"}], [{"recon_error": True}], [3]):
        with pytest.raises((TypeError, ValueError)):
            check_history(bad)


def test_cli_plot_training(two_layer, tmp_path, capsys):
    model = two_layer.save(tmp_path / "m.safetensors")
    assert main(["plot-training", str(model), "--out", str(tmp_path / "curves.png")]) == 0
    assert matplotlib.image.imread(tmp_path / "curves.png").shape[1] > 100
    assert main(["plot-training", str(_untrained(tmp_path)), "--out", str(tmp_path / "d.png")]) == 2
    assert "crbm plot-training: error: " in (err := capsys.readouterr().err)
    assert "untrained.safetensors: no training history" in err
    assert not (tmp_path / "d.png").exists()
