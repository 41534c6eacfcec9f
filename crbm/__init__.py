"""crbm: conditional restricted Boltzmann machines for motion capture, and the Boltzmann-machine family."""

__version__ = "0.1.0"

from crbm.checkpoint import load_checkpoint, load_model, save_checkpoint  # noqa: E402
from crbm.dbn import greedy_pretrain, up_pass  # noqa: E402
from crbm.errors import CRBMError, DivergenceError, FormatError  # noqa: E402
from crbm.evaluate import (  # noqa: E402
    AISResult,
    ais,
    base_rate_bias,
    exact_log_partition,
    free_energy_gap,
    log_probability,
    reconstruction_error,
)
from crbm.mocap import Joint, Motion, Skeleton  # noqa: E402
from crbm.rbm import RBM  # noqa: E402
from crbm.train import TensorData, TrainConfig, fit  # noqa: E402
from crbm.units import Bernoulli, Concat, Gaussian, ReLU, ReplicatedSoftmax, Softmax  # noqa: E402

__all__ = [
    "AISResult",
    "Bernoulli",
    "CRBMError",
    "Concat",
    "DivergenceError",
    "FormatError",
    "Gaussian",
    "Joint",
    "Motion",
    "RBM",
    "ReLU",
    "ReplicatedSoftmax",
    "Skeleton",
    "Softmax",
    "TensorData",
    "TrainConfig",
    "__version__",
    "ais",
    "base_rate_bias",
    "exact_log_partition",
    "fit",
    "greedy_pretrain",
    "up_pass",
    "free_energy_gap",
    "load_checkpoint",
    "load_model",
    "log_probability",
    "reconstruction_error",
    "save_checkpoint",
]
from crbm.autoencoder import DeepAutoencoder  # noqa: E402

__all__ += ["DeepAutoencoder"]
from crbm.documents import Corpus, load_bag_of_words, tokenize_20news  # noqa: E402
from crbm.hashing import HashTable, binary_codes, pack_bits  # noqa: E402
from crbm.retrieval import RECALL_LEVELS, precision_at_recall, retrieval_curve  # noqa: E402

__all__ += [
    "Corpus",
    "HashTable",
    "RECALL_LEVELS",
    "binary_codes",
    "load_bag_of_words",
    "pack_bits",
    "precision_at_recall",
    "retrieval_curve",
    "tokenize_20news",
]
