"""crbm: conditional restricted Boltzmann machines for motion capture, and the Boltzmann-machine family.

The public API is flat: everything listed in ``__all__`` is importable from ``crbm``.
"""

import typing as _typing

__version__ = "0.1.0"

# the engine
from crbm.engine.checkpoint import load_checkpoint, load_model, save_checkpoint
from crbm.engine.curves import history_of, plot_training
from crbm.engine.errors import CRBMError, DivergenceError, FormatError
from crbm.engine.evaluate import (
    AISResult,
    ais,
    base_rate_bias,
    exact_log_partition,
    free_energy_gap,
    log_probability,
    reconstruction_error,
)
from crbm.engine.rbm import RBM
from crbm.engine.threads import set_threads
from crbm.engine.distributed import init_distributed
from crbm.engine.precision import matmul_precision
from crbm.engine.train import SamplerConfig, TensorData, TrainConfig, fit, fit_phases
from crbm.engine.units import Bernoulli, Concat, Gaussian, ReLU, ReplicatedSoftmax, Softmax

# static models: deep belief nets, classifiers, MNIST
from crbm.static.classifier import DBNClassifier, fine_tune_backprop
from crbm.static.dbn import DBN, fine_tune_up_down, greedy_pretrain, save_label_samples, train_dbn, up_pass
from crbm.data.mnist import load_mnist
from crbm.static.autoencoder import DeepAutoencoder
from crbm.static.dbm import DBM, pretrain_dbm
from crbm.data.documents import Corpus, load_bag_of_words, tokenize_20news, tokenize_reuters
from crbm.data.faces import face_patches, load_olivetti
from crbm.static.hashing import HashTable, binary_codes, pack_bits
from crbm.static.retrieval import RECALL_LEVELS, precision_at_recall, retrieval_curve
from crbm.static.collaborative import BiasRecommender, MFRecommender, RatingRBM, RBMRecommender, SVDRecommender
from crbm.data.movielens import load_movielens, read_ratings, split_ratings

# motion models: conditional RBMs, generation, filtering, forecasting
from crbm.motion.conditional import CRBM, TwoLayerCRBM, Windows, fit_two_layer, taylor_config
from crbm.motion.factored import FCRBM, LabelCRBM, fcrbm_config
from crbm.motion.forecast import LinearAR, model_predictor, prediction_errors, zero_velocity
from crbm.motion.mixture import MixtureCRBM
from crbm.motion.sample import denoise, fill_both_sides, fill_missing, generate, predict_next, smooth, style_schedule
from crbm.motion.cleanup import Gap, OnlineFilter, denoise_motion, estimate_noise, fill_motion, interpolate_gaps
from crbm.motion.model import MotionModel, load_motion_model, train_motion_model
from crbm.motion.stream import StreamingWindows

# motion capture: values, kinematics, preprocessing, data sets
from crbm.data.mocap import cmu_skeleton, cmu_trials, load_gpmat_walkjog, load_mit_motion
from crbm.data.paths import data_path
from crbm.mocap import (
    asf_to_bvh,
    canonical_rig,
    joint_angle_error,
    joint_position_error,
    leg_length,
    retarget,
    convert_length,
    iter_parquet_clips,
    iter_parquet_frames,
    motion_from_dataframe,
    motion_to_dataframe,
    read_amc,
    read_asf,
    read_bvh,
    read_cmubench,
    read_motion,
    read_motions,
    read_parquet,
    read_parquet_skeleton,
    write_amc,
    write_asf,
    write_bvh,
    write_cmubench,
    write_motion,
    write_parquet,
    BodyCentredRoot,
    Downsample,
    DropConstant,
    FootContacts,
    Joint,
    JointAngles,
    Motion,
    Pipeline,
    PlantedFootRoot,
    Skeleton,
    ZScore,
    body_centred_pipeline,
    joint_positions,
    step_from_state,
)
from crbm.mocap.resample import frame_count, resample

_LAZY = ("animate", "plot_channels", "plot_poses")  # rendering pulls in matplotlib: imported on first use
if _typing.TYPE_CHECKING:  # for type checkers, the lazy names are the rendering functions themselves
    from crbm.mocap.render import animate, plot_channels, plot_poses

__all__ = sorted(
    [n for n, v in globals().items() if not n.startswith("_") and type(v).__name__ != "module"] + list(_LAZY)
)


def __getattr__(name):
    if name in _LAZY:
        from crbm.mocap import render

        return getattr(render, name)
    raise AttributeError(f"module 'crbm' has no attribute {name!r}")
