"""The main job end to end: clips -> MotionModel -> generate / denoise / fill / evaluate -> files, and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_bad_inputs import demo_with_entry

import crbm
from crbm.cli import main
from crbm.motion.model import MotionModel, demo_model_path, load_motion_model, train_motion_model


@pytest.fixture(scope="module")
def cmu(data_root):
    walkjog = crbm.load_gpmat_walkjog(data_root)
    train, test = walkjog.motions(crbm.cmu_skeleton(35, path=data_root))
    return walkjog, train, test


@pytest.fixture(scope="module")
def label_model(cmu):
    walkjog, train, _ = cmu
    torch.set_num_threads(1)
    return train_motion_model(train, styles=walkjog.train_styles, kind="label", hidden=40, epochs=15, seed=1)


def test_train_save_load_round_trip(label_model, tmp_path):
    path = label_model.save(tmp_path / "m.safetensors")
    again = MotionModel.load(path)
    assert again.styles == ("walk", "run") and again.fps == 30.0 and again.order == 3
    assert again.pipeline.names_out == label_model.pipeline.names_out
    for k, v in label_model.model.state_dict().items():
        assert torch.equal(again.model.state_dict()[k], v)
    torch.testing.assert_close(again.ar.weight, label_model.ar.weight)
    assert again.skeleton.channel_names == label_model.skeleton.channel_names


def test_same_seed_same_model(cmu):
    walkjog, train, _ = cmu
    a = train_motion_model(train[:4], kind="crbm", hidden=8, epochs=2, seed=3)
    b = train_motion_model(train[:4], kind="crbm", hidden=8, epochs=2, seed=3)
    for k, v in a.model.state_dict().items():
        assert torch.equal(b.model.state_dict()[k], v)


def test_a_mixture_model_trains_saves_generates_and_refuses_to_clean(cmu, tmp_path):
    """kind "mixture" through the main API: the checkpoint reloads to the same responsibilities' model,
    generation and prediction run, denoising says the mixture does not clean."""
    _, train, test = cmu
    model = train_motion_model(train[:4], kind="mixture", components=2, hidden=8, epochs=2, seed=3)
    assert isinstance(model.model, crbm.MixtureCRBM) and model.model.components == 2
    back = MotionModel.load(model.save(tmp_path / "mix.safetensors"))
    for k, v in model.model.state_dict().items():
        assert torch.equal(back.model.state_dict()[k], v)
    clip = back.generate(20, generator=torch.Generator().manual_seed(0))[0]
    assert clip.n_frames == 20 and np.isfinite(clip.frames).all()
    assert set(back.evaluate(test[:1], horizons=(1, 2))) >= {"model", "zero_velocity"}
    with pytest.raises(crbm.CRBMError, match="a mixture model generates and predicts only"):
        back.denoise(test[0])
    with pytest.raises(crbm.CRBMError, match="history_noise is not available for kind 'mixture'"):
        train_motion_model(train[:1], kind="mixture", hidden=4, epochs=1, history_noise=1.0)


def test_fcrbm_trains_with_unit_history_noise_unless_told(cmu):
    walkjog, train, _ = cmu
    styles = walkjog.train_styles[:4]
    model = train_motion_model(train[:4], styles=styles, kind="fcrbm", hidden=8, epochs=1, seed=3).model
    assert isinstance(model, crbm.FCRBM) and model.history_noise == 1.0
    quiet = train_motion_model(train[:4], styles=styles, kind="fcrbm", hidden=8, epochs=1, seed=3, history_noise=0.0)
    assert quiet.model.history_noise == 0.0
    assert not torch.equal(quiet.model.hidden_bias, model.hidden_bias)  # the noise reached the training


def test_label_crbm_trains_without_history_noise_unless_told(cmu):
    walkjog, train, _ = cmu
    styles = walkjog.train_styles[:4]
    plain = train_motion_model(train[:4], styles=styles, kind="label", hidden=8, epochs=1, seed=3).model
    noisy = train_motion_model(train[:4], styles=styles, kind="label", hidden=8, epochs=1, seed=3, history_noise=1.0)
    assert plain.history_noise == 0.0 and noisy.model.history_noise == 1.0
    assert not torch.equal(plain.A, noisy.model.A)  # the noise reached the training
    with pytest.raises(crbm.CRBMError, match="history_noise is not available for kind 'two-layer'"):
        train_motion_model(train[:4], kind="two-layer", hidden=8, epochs=1, history_noise=0.5)


def test_generate_walk_then_run_gives_clips_on_the_skeleton(label_model):
    clips = label_model.generate(
        [("walk", 30), ("run", 30)], n_chains=2, k=5, generator=torch.Generator().manual_seed(0)
    )
    assert len(clips) == 2
    for c in clips:
        # on the model's rig: 31 joints with 3 rotation channels each, the root's position as well
        assert c.frames.shape == (60, 3 + 3 * 31) and np.isfinite(c.frames).all()  # exactly 60: no seed frames
        assert c.skeleton is label_model.skeleton and c.fps == 30.0
    assert not np.allclose(clips[0].frames, clips[1].frames)  # independent chains
    with pytest.raises(crbm.CRBMError, match="unknown style 'swim'"):
        label_model.generate([("swim", 10)])


def test_a_chain_without_foot_strikes_changes_style_at_the_scheduled_frame(label_model, monkeypatch):
    """Where no strike is found (here: none looked for) the hand-over falls back to the labels cross-faded at
    the scheduled frame, the same frames as ``handover=0``, draw for draw."""
    def no_steps(motion, **kw):
        raise crbm.CRBMError("no steps")

    monkeypatch.setattr("crbm.motion.model.clip_steps", no_steps)
    plain, handed = ([c.frames for c in label_model.generate([("walk", 30), ("run", 20), ("walk", 10)], n_chains=2, k=5,
                                                             handover=h, generator=torch.Generator().manual_seed(3))]
                     for h in (0, 30))
    for a, b in zip(plain, handed):
        np.testing.assert_array_equal(a, b)


def test_denoise_and_fill_keep_the_clip_shape_and_observed_channels(label_model, cmu):
    _, _, test = cmu
    walk = test[1]
    clean = label_model.denoise(walk)
    assert clean.frames.shape == walk.frames.shape and np.isfinite(clean.frames).all()
    filled = label_model.fill(walk, ["rfemur", "rtibia"], start=63)
    names = walk.channel_names
    keep = [i for i, n in enumerate(names) if n.split(".")[0] not in ("rfemur", "rtibia", "root")]
    # observed joint angles come back unchanged (to the pipeline's round-trip precision)
    np.testing.assert_allclose(filled.frames[:, keep], walk.frames[:, keep], atol=1e-6)
    leg = [names.index("rfemur.rx"), names.index("rtibia.rx")]
    np.testing.assert_allclose(filled.frames[:63, leg], walk.frames[:63, leg], atol=1e-6)
    assert not np.allclose(filled.frames[64:, leg], walk.frames[64:, leg], atol=1e-3)
    with pytest.raises(crbm.CRBMError, match="unknown joints"):
        label_model.fill(walk, ["tail"])


def test_denoise_and_fill_come_back_at_the_clip_rate(label_model, cmu):
    """A 60 fps clip is cleaned at its own 60 fps (every frame used) and comes back at 60 fps with its own frame
    count, or at --out-fps; a fill from frame 126 of the 60 fps clip leaves frames 0-125 exactly as they were."""
    walk = cmu[2][1]
    walk60 = crbm.resample(walk, 60.0)
    assert walk60.n_frames == 2 * walk.n_frames - 1
    clean60 = label_model.denoise(walk60)
    assert clean60.fps == 60.0 and clean60.n_frames == walk60.n_frames and clean60.skeleton == walk60.skeleton
    assert label_model.denoise(walk60, out_fps=24.0).n_frames == crbm.frame_count(walk60.n_frames, 60.0, 24.0)
    filled60 = label_model.fill(walk60, ["rfemur"], start=126)
    assert filled60.fps == 60.0 and filled60.n_frames == walk60.n_frames
    np.testing.assert_array_equal(filled60.frames[:126], walk60.frames[:126])
    femur = walk60.channel_names.index("rfemur.rx")
    assert not np.allclose(filled60.frames[126:, femur], walk60.frames[126:, femur], atol=1e-3)


def test_evaluate_reports_model_and_both_baselines(label_model, cmu):
    errors = label_model.evaluate([cmu[2][1]])
    assert set(errors) == {"model", "zero_velocity", "linear_ar"}
    for errs in errors.values():
        assert list(errs) == [1, 2, 4, 8, 16] and all(np.isfinite(e) and e > 0 for e in errs.values())
    assert errors["zero_velocity"][16] > errors["zero_velocity"][1]


def test_cli_trains_and_generates_a_mixture(tmp_path, data_root, capsys):
    amc = data_root / "mocap" / "cmu" / "35"
    model = tmp_path / "mix.safetensors"
    assert main(["train", str(amc / "35_01.amc"), "--asf", str(amc / "35.asf"), "--out", str(model), "--kind",
                 "mixture", "--components", "3", "--epochs", "1", "--hidden", "6"]) == 0
    loaded = MotionModel.load(model)
    assert isinstance(loaded.model, crbm.MixtureCRBM) and loaded.model.components == 3
    out = tmp_path / "gen.bvh"
    assert main(["generate", str(model), "--frames", "12", "--k", "3", "--out", str(out)]) == 0
    assert crbm.read_bvh(out).n_frames == 12
    assert main(["fill", str(model), str(amc / "35_02.amc"), "--asf", str(amc / "35.asf"), "--missing", "rfemur",
                 "--start", "5", "--end", "15", "--out", str(tmp_path / "f.parquet")]) == 2
    assert "a mixture model generates and predicts only" in capsys.readouterr().err


def test_cli_train_generate_evaluate_fill(tmp_path, data_root, capsys):
    amc = data_root / "mocap" / "cmu" / "35"
    model = tmp_path / "m.safetensors"
    args = [
        "train",
        str(amc / "35_01.amc"),
        str(amc / "35_02.amc"),
        "--asf",
        str(amc / "35.asf"),
        "--out",
        str(model),
        "--epochs",
        "2",
        "--hidden",
        "10",
    ]
    assert main(args) == 0 and model.is_file()
    out = tmp_path / "gen.bvh"
    assert main(["generate", str(model), "--frames", "20", "--k", "3", "--out", str(out)]) == 0
    motion = crbm.read_bvh(out)
    assert motion.n_frames == 20  # exactly the frames asked for: the seed frames are not written
    # a model without styles generates from a frame count alone
    (clip,) = MotionModel.load(model).generate(15, k=2, generator=torch.Generator().manual_seed(0))
    assert clip.n_frames == 15 and np.isfinite(clip.frames).all()
    report = tmp_path / "errors.json"
    assert (
        main(["evaluate", str(model), str(amc / "35_03.amc"), "--asf", str(amc / "35.asf"), "--json", str(report)]) == 0
    )
    assert set(json.loads(report.read_text())) == {"model", "zero_velocity", "linear_ar"}
    filled = tmp_path / "filled.parquet"
    assert (
        main(
            [
                "fill",
                str(model),
                str(amc / "35_03.amc"),
                "--asf",
                str(amc / "35.asf"),
                "--missing",
                "rfemur,rtibia",
                "--start",
                "10",
                "--out",
                str(filled),
            ]
        )
        == 0
    )
    assert crbm.read_parquet(filled)[0].n_frames > 10
    capsys.readouterr()
    assert main(["generate", str(model), "--style", "walk:10", "--out", str(tmp_path / "x.bvh")]) == 2
    assert "no styles" in capsys.readouterr().err
    assert not (tmp_path / "x.bvh").exists()


@pytest.mark.skipif(not demo_model_path().is_file(), reason="the shipped demo model is not built yet")
def test_demo_runs_from_the_shipped_model_without_data(tmp_path, monkeypatch):
    monkeypatch.delenv("CRBM_DATA", raising=False)
    model = load_motion_model("demo")
    assert model.styles == ("walk", "run")
    assert main(["demo", "--out", str(tmp_path)]) == 0
    for name in ("demo.bvh", "demo.gif", "demo_channels.png"):
        assert (tmp_path / name).stat().st_size > 0
    motion = crbm.read_bvh(tmp_path / "demo.bvh")
    assert motion.n_frames == 240 and np.isfinite(motion.frames).all()


@pytest.mark.skipif(not demo_model_path().is_file(), reason="the shipped demo model is not built yet")
def test_demo_walk_turns_into_a_run_within_one_cycle_at_a_foot_strike():
    """The demo's schedule: each chain walks on to its first foot strike at or after frame 120 (the same
    frames as without the hand-over up to the scheduled frame), then runs in steady steps from within one
    run cycle of the switch, with no irregular step (crbm.mocap.realism.style_transition)."""
    from crbm.mocap.realism import clip_steps, steady_step, style_transition

    model = load_motion_model("demo")
    steady = {s: steady_step(model.generate([(s, 240)], n_chains=2, generator=torch.Generator().manual_seed(7)))
              for s in ("walk", "run")}
    clips = model.generate([("walk", 120), ("run", 120)], n_chains=2, generator=torch.Generator().manual_seed(0))
    plain = model.generate([("walk", 120), ("run", 120)], n_chains=2, handover=0,
                           generator=torch.Generator().manual_seed(0))
    for c, p in zip(clips, plain):
        np.testing.assert_array_equal(c.frames[:120], p.frames[:120])
        t = style_transition(clip_steps(c), 120, steady["walk"], steady["run"])
        assert t["cycles"] < 1 and t["irregular"] == 0, t


@pytest.mark.skipif(not demo_model_path().is_file(), reason="the shipped demo model is not built yet")
def test_cli_generate_hands_over_or_not(tmp_path, capsys):
    out = tmp_path / "x.bvh"
    assert main(["generate", "demo", "--style", "walk:40,run:40", "--handover", "-1", "--out", str(out)]) == 2
    assert "handover: expected a number of frames >= 0, got -1" in capsys.readouterr().err and not out.exists()
    clips = {}
    for h in ("0", "30"):
        assert main(["generate", "demo", "--style", "walk:40,run:40", "--k", "5", "--handover", h, "--out",
                     str(tmp_path / f"h{h}.bvh")]) == 0
        clips[h] = crbm.read_bvh(tmp_path / f"h{h}.bvh").frames
    assert not np.allclose(clips["0"][40:], clips["30"][40:])


def test_cli_trains_on_two_subjects_and_cleans_a_bvh_of_a_third(tmp_path, data_root, capsys):
    """AMC files of two CMU subjects, each read with the .asf in its own folder (a model of poses relative to
    the clip's running mean); it then denoises and fills a BVH of a third subject (another rig, 96 channels)
    and gives it back on that rig."""
    cmu = data_root / "mocap" / "cmu"
    model = tmp_path / "m.safetensors"
    args = ["train", str(cmu / "35" / "35_01.amc"), str(cmu / "12" / "12_01.amc"), "--out", str(model),
            "--epochs", "2", "--hidden", "10", "--centring"]
    assert main(args) == 0
    skeleton = crbm.read_asf(cmu / "02" / "02.asf")
    clip = crbm.asf_to_bvh(crbm.read_amc(cmu / "02" / "02_01.amc", skeleton))
    crbm.write_bvh(clip, tmp_path / "walk.bvh")
    for command in (["denoise"], ["fill", "--missing", "rfemur,rtibia", "--start", "40"]):
        out = tmp_path / f"{command[0]}.bvh"
        assert main([command[0], str(model), str(tmp_path / "walk.bvh"), *command[1:], "--out", str(out)]) == 0
        back = crbm.read_bvh(out)
        assert back.skeleton.names == clip.skeleton.names and back.frames.shape == clip.frames.shape
        assert np.isfinite(back.frames).all()
    capsys.readouterr()


def test_the_same_pose_on_two_subjects_is_the_same_model_input(label_model, data_root):
    """A clip retargeted onto another subject's rig (same limb directions, root scaled by leg length) gives
    the model the same normalised frames as the original: the input does not depend on the subject."""
    s12 = crbm.read_asf(data_root / "mocap" / "cmu" / "12" / "12.asf")
    s35 = crbm.read_asf(data_root / "mocap" / "cmu" / "35" / "35.asf")
    walk = crbm.read_amc(data_root / "mocap" / "cmu" / "35" / "35_03.amc", s35)
    other = crbm.retarget(walk, crbm.canonical_rig([s12]))  # subject 12's rest directions and bone lengths
    (a,), (b,) = label_model.transform([walk]), label_model.transform([other])
    torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


@pytest.mark.parametrize("change, message", [
    (lambda e: e.pop("pipeline"), r"\(KeyError: 'pipeline'\)"),
    (lambda e: e["pipeline"]["steps"][-1].update(mean=[0.0]), r"ZScore state has 1 means and \d+ scales for \d+"),
    (lambda e: e["pipeline"]["steps"][-1]["names_out"].pop(), r"the preprocessing gives \d+ channels, the model takes"),
    (lambda e: e["pipeline"]["steps"].pop(2), r"\(\w+Error: "),  # steps that no longer fit together
    (lambda e: e["seeds"].update({"walk": [[1.0, 2.0]]}), r"seed frames of style 'walk' have shape \(1, 2\)"),
    (lambda e: e.update(styles=[1, 2]), r"styles must be names, got \[1, 2\]"),
    (lambda e: e["ar"].update(bias=[0.0]), r"the AR fit has shapes"),
    (lambda e: e.update(fps=0), r"expected a frame rate above 0"),
    (lambda e: e["skeleton"]["joints"][1].update(parent="x"), r"malformed skeleton description"),
    (lambda e: e["pipeline"].update(steps={"a": 1}), r"\(AttributeError|TypeError"),
])
def test_a_malformed_motion_model_entry_is_one_format_error(tmp_path, change, message):
    """Whatever is wrong in the stored entry (a missing part, parts that do not fit together), loading names the
    file in one FormatError instead of a KeyError or ValueError from the preprocessing code."""
    with pytest.raises(crbm.FormatError, match=r"m\.safetensors: the 'motion_model' entry is malformed .*" + message):
        demo_with_entry(tmp_path, change, "m.safetensors")
    assert demo_with_entry(tmp_path, lambda e: None, "m.safetensors").order >= 1  # unchanged, it loads


def test_planted_foot_root_model_saves_loads_and_gives_clips_back(cmu, tmp_path):
    """root="foot" (PlantedFootRoot): the model's preprocessing keeps its skeleton through save and load, and a
    training clip comes back, root path included, through transform and to_motion (to float32 precision)."""
    _, train, _ = cmu
    model = train_motion_model(train[:4], kind="crbm", hidden=8, epochs=2, seed=3, root="foot")
    again = MotionModel.load(model.save(tmp_path / "foot.safetensors"))
    assert again.channels[:2] == ["root.fx", "root.fz"]
    clip = model.on_rig(train[0])
    (frames,) = again.transform([clip])
    back = again.to_motion(frames, context=clip)
    np.testing.assert_allclose(back.frames, clip.frames, atol=1e-4)  # model frames are float32
    (generated,) = again.generate(20, generator=torch.Generator().manual_seed(0))
    assert generated.n_frames == 20 and np.isfinite(generated.frames).all()


def test_contacts_model_saves_loads_and_generates_with_its_contact_channels(cmu, tmp_path):
    """contacts=True (FootContacts): a channel per foot after the pose, kept through save and load; generated
    clips come back on the skeleton's channels, and a training clip comes back with pin off."""
    _, train, _ = cmu
    model = train_motion_model(train[:4], kind="crbm", hidden=8, epochs=2, seed=3, contacts=True)
    again = MotionModel.load(model.save(tmp_path / "contacts.safetensors"))
    assert [c.rsplit(".", 1)[1] for c in again.channels[-2:]] == ["contact", "contact"]
    assert again.pipeline.steps[0].pin
    (generated,) = again.generate(20, generator=torch.Generator().manual_seed(0))
    assert generated.frames.shape == (20, len(again.skeleton.channel_names)) and np.isfinite(generated.frames).all()
    again.pipeline.steps[0].pin = False
    clip = model.on_rig(train[0])
    (frames,) = again.transform([clip])
    np.testing.assert_allclose(again.to_motion(frames, context=clip).frames, clip.frames, atol=1e-4)


def test_cli_train_root_foot(tmp_path, data_root):
    amc = data_root / "mocap" / "cmu" / "35"
    model = tmp_path / "m.safetensors"
    assert main(["train", str(amc / "35_01.amc"), "--asf", str(amc / "35.asf"), "--out", str(model), "--epochs", "2",
                 "--hidden", "8", "--root", "foot"]) == 0
    assert load_motion_model(model).channels[:2] == ["root.fx", "root.fz"]


def test_cli_train_contacts(tmp_path, data_root):
    amc = data_root / "mocap" / "cmu" / "35"
    model = tmp_path / "m.safetensors"
    assert main(["train", str(amc / "35_01.amc"), "--asf", str(amc / "35.asf"), "--out", str(model), "--epochs", "2",
                 "--hidden", "8", "--contacts"]) == 0
    assert all(c.endswith(".contact") for c in load_motion_model(model).channels[-2:])


def test_cli_train_history_noise(tmp_path, data_root, capsys):
    """--history-noise reaches the model (kept in its checkpoint); a negative one is one line, exit 2, no file."""
    amc = data_root / "mocap" / "cmu" / "35"
    args = ["train", str(amc / "35_01.amc"), "--asf", str(amc / "35.asf"), "--epochs", "2", "--hidden", "8"]
    model = tmp_path / "m.safetensors"
    assert main([*args, "--out", str(model), "--history-noise", "0.5"]) == 0
    assert load_motion_model(model).model.history_noise == 0.5
    bad = tmp_path / "bad.safetensors"
    capsys.readouterr()
    assert main([*args, "--out", str(bad), "--history-noise", "-1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "history_noise" in err and len(err.splitlines()) == 1
    assert not bad.exists()


def test_cli_generate_final_samples_and_lock_feet(tmp_path, capsys):
    """--final-samples changes the frames; --lock-feet plants the stance feet (realism.lock_feet) and changes
    only the root's ground path; a negative --final-samples is one line and exit 2, no file."""
    from crbm.mocap.realism import foot_skating

    paths = {}
    for name, extra in (("plain", []), ("final", ["--final-samples", "4"]), ("locked", ["--lock-feet"])):
        paths[name] = tmp_path / f"{name}.bvh"
        assert main(["generate", "demo", "--frames", "60", "--k", "5", "--out", str(paths[name]), *extra]) == 0
    plain, final, locked = (crbm.read_bvh(paths[n]) for n in ("plain", "final", "locked"))
    assert not np.allclose(plain.frames, final.frames)
    ground = [0, 2]  # the root's X and Z positions
    np.testing.assert_allclose(np.delete(locked.frames, ground, 1), np.delete(plain.frames, ground, 1), atol=1e-3)
    assert foot_skating(locked)["stance_speed"] < foot_skating(plain)["stance_speed"]
    bad = tmp_path / "bad.bvh"
    assert main(["generate", "demo", "--frames", "5", "--final-samples", "-1", "--out", str(bad)]) == 2
    assert "final_samples" in capsys.readouterr().err and not bad.exists()
