"""A two-layer deep Boltzmann machine (Salakhutdinov & Hinton 2009, "Deep Boltzmann Machines", AISTATS).

Binary layers v - h1 - h2 with

    E(v, h1, h2) = -v^T W1 h1 - h1^T W2 h2 - b.v - c1.h1 - c2.h2

The graph is bipartite between {v, h2} and {h1}, so the DBM *is* an RBM whose visible layer is the
concatenation x = [v, h2] (``Concat`` of two Bernoulli blocks) and whose hidden layer is h1, with weight
[[W1]; [W2^T]] of shape (n_visible + n_h2, n_h1), visible bias [b; c2] and hidden bias c1. This module holds
exactly that RBM (``DBM.joint_rbm``) and nothing else; W1, W2, b, c1, c2 are views into its parameters.
Consequences, all from the engine:

- block Gibbs on the joint RBM (h1 | v, h2, then v, h2 | h1) is the DBM's Gibbs sampler;
- ``crbm.exact_log_partition(dbm.joint_rbm)`` is the DBM's exact log Z (h1 summed out per state of
  [v, h2], or [v, h2] summed out per state of h1, whichever layer is smaller);
- ``crbm.ais(dbm.joint_rbm, ...)`` is the DBM's AIS estimate of log Z, run on x = [v, h2] with h1 summed
  out analytically, as in the paper (section 4).

Learning (``DBM.gradient``, the ``crbm.fit`` hook): data-dependent statistics from the mean-field posterior
q(h1, h2 | v) = prod mu1^h1 (1 - mu1)^(1 - h1) prod mu2^h2 (1 - mu2)^(1 - h2) (``mean_field``), and
data-independent statistics from persistent block-Gibbs chains on the joint RBM.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from crbm.engine.checkpoint import register_model
from crbm.engine.checks import check_int_at_least, per_layer
from crbm.engine.errors import CRBMError
from crbm.engine.evaluate import base_rate_bias
from crbm.engine.noise import torch_generator, uniform
from crbm.engine.rbm import RBM, check_tensor, weight_statistics
from crbm.engine.train import TrainConfig, fit
from crbm.engine.units import Bernoulli, Concat
from crbm.static.dbn import up_pass


@register_model
class DBM(nn.Module):
    """A two-layer binary deep Boltzmann machine v - h1 - h2.

    Args:
        n_visible, n_h1, n_h2: layer sizes.
        mean_field_steps: fixed-point updates of the mean-field posterior used in training (``gradient``),
            in ``monitor`` and as the default of ``mean_field`` / ``elbo``.
        init_std: weights start ~ N(0, init_std^2); biases at zero.
        generator: random source of the initial weights.

    Module: ``joint_rbm``, the RBM over x = [v, h2] (``Concat`` of two Bernoulli blocks) and h1. Its
    parameters are the DBM's only ones: ``joint_rbm.weight`` (n_visible + n_h2, n_h1) = [[W1]; [W2^T]],
    ``joint_rbm.visible_bias`` = [b; c2], ``joint_rbm.hidden_bias`` = c1.
    """

    kind = "DBM"

    def __init__(
        self,
        n_visible: int,
        n_h1: int,
        n_h2: int,
        *,
        mean_field_steps: int = 10,
        init_std: float = 0.01,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        for name, n in (("n_visible", n_visible), ("n_h1", n_h1), ("n_h2", n_h2)):
            check_int_at_least(n, name, 1)
        self.mean_field_steps = check_int_at_least(mean_field_steps, "mean_field_steps", 0)
        self.n_visible, self.n_h1, self.n_h2 = n_visible, n_h1, n_h2
        joint_visible = Concat([(Bernoulli(), n_visible), (Bernoulli(), n_h2)])
        self.joint_rbm = RBM(
            n_visible + n_h2,
            n_h1,
            visible=joint_visible,
            init_std=init_std,
            dtype=dtype,
            device=device,
            generator=generator,
        )

    # ------------------------------------------------------------------ description
    def config(self) -> dict:
        return {
            "n_visible": self.n_visible,
            "n_h1": self.n_h1,
            "n_h2": self.n_h2,
            "mean_field_steps": self.mean_field_steps,
            "init_std": self.joint_rbm.init_std,
        }

    @classmethod
    def from_config(cls, config: dict, *, dtype=torch.float32, device=None) -> DBM:
        return cls(**config, dtype=dtype, device=device)

    def extra_repr(self) -> str:
        return f"{self.n_visible} - {self.n_h1} - {self.n_h2}"

    def decayed_parameters(self) -> tuple[str, ...]:
        """Weight decay applies to the weight ([[W1]; [W2^T]]) only."""
        return ("joint_rbm.weight",)

    # views into the joint RBM's parameters (no copies)
    @property
    def W1(self) -> Tensor:
        """(n_visible, n_h1)."""
        return self.joint_rbm.weight[: self.n_visible]

    @property
    def W2(self) -> Tensor:
        """(n_h1, n_h2)."""
        return self.joint_rbm.weight[self.n_visible :].T

    @property
    def b(self) -> Tensor:
        """Visible biases (n_visible,)."""
        return self.joint_rbm.visible_bias[: self.n_visible]

    @property
    def c1(self) -> Tensor:
        """First hidden layer's biases (n_h1,)."""
        return self.joint_rbm.hidden_bias

    @property
    def c2(self) -> Tensor:
        """Second hidden layer's biases (n_h2,)."""
        return self.joint_rbm.visible_bias[self.n_visible :]

    def check_visible(self, v: Tensor, what: str = "v") -> Tensor:
        """Validate a batch: (batch, n_visible) in [0, 1], the model's dtype and device (CRBMError)."""
        check_tensor(v, what, width=self.n_visible, like=self.joint_rbm.weight)
        Bernoulli().validate(v, what)
        return v

    def _joint(self, v: Tensor, h2: Tensor) -> Tensor:
        return torch.cat([v, h2], 1)

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def mean_field(self, v: Tensor, *, steps: int | None = None) -> tuple[Tensor, Tensor]:
        """The mean-field posterior q(h1, h2 | v) (Salakhutdinov & Hinton 2009, section 3).

        Starts from the bottom-up pass with doubled input, mu1 = sigmoid(2 v W1 + c1), mu2 = sigmoid(mu1 W2 + c2),
        then ``steps`` (default ``mean_field_steps``) rounds of the fixed-point updates

            mu1 = sigmoid(v W1 + mu2 W2^T + c1);   mu2 = sigmoid(mu1 W2 + c2)

        Returns (mu1, mu2), shapes (batch, n_h1), (batch, n_h2)."""
        steps = self.mean_field_steps if steps is None else check_int_at_least(steps, "steps", 0)
        return self._mean_field(self.check_visible(v), steps)

    def _mean_field(self, v: Tensor, steps: int) -> tuple[Tensor, Tensor]:
        rbm = self.joint_rbm
        zeros = v.new_zeros(v.shape[0], self.n_h2)
        mu1 = rbm.hidden_mean(self._joint(2 * v, zeros))  # c1 + 2 v W1
        mu2 = self._top_mean(mu1)
        for _ in range(steps):
            mu1 = rbm.hidden_mean(self._joint(v, mu2))  # c1 + v W1 + mu2 W2^T
            mu2 = self._top_mean(mu1)
        return mu1, mu2

    def _top_mean(self, h1: Tensor) -> Tensor:
        """sigmoid(h1 W2 + c2), (batch, n_h2): the h2 block of the joint RBM's E[x | h1]."""
        return self._block_mean(h1, 1)

    def _block_mean(self, h1: Tensor, block: int) -> Tensor:
        """Block ``block`` of the joint RBM's E[x | h1] by that block's unit family: 0 is v (mean of
        b + W1 h1, (batch, n_visible)), 1 is h2 (mean of c2 + W2^T h1, (batch, n_h2))."""
        rbm = self.joint_rbm
        rows = slice(0, self.n_visible) if block == 0 else slice(self.n_visible, None)
        return rbm.visible.blocks[block][0].mean(torch.addmm(rbm.visible_bias[rows], h1, rbm.weight[rows].T))

    @torch.no_grad()
    def elbo(self, v: Tensor, log_z: float, *, steps: int | None = None) -> Tensor:
        """Variational lower bound on log p(v) with the mean-field q (shape (batch,)):

            log p(v) >= -E_q[E(v, h1, h2)] + H(q) - log Z

        E_q[E] is the joint RBM's energy at x = [v, mu2], h1 = mu1 (the energy is linear in each layer and q
        factorises); H(q) is the sum of the units' binary entropies."""
        mu1, mu2 = self.mean_field(v, steps=steps)
        expected_energy = self.joint_rbm.energy(self._joint(v, mu2), mu1)
        return -expected_energy + _entropy(mu1) + _entropy(mu2) - log_z

    @torch.no_grad()
    def sample(
        self, n: int, *, steps: int = 1000, generator: torch.Generator | None, init: Tensor | None = None
    ) -> Tensor:
        """``n`` visible samples after ``steps`` block-Gibbs rounds on the joint RBM, (n, n_visible).
        ``init`` (n, n_visible + n_h2): starting states [v, h2] (default: a draw of p(v, h2 | h1 = 0))."""
        return self.joint_rbm.sample(n, steps=steps, generator=generator, init=init)[:, : self.n_visible]

    @torch.no_grad()
    def ais_base_bias(self, data: Tensor, *, eps: float = 0.05, batch_size: int = 10000) -> Tensor:
        """Biases of the AIS base model over x = [v, h2], shape (n_visible + n_h2,): the data's smoothed
        log-odds for v (``base_rate_bias``) and the log-odds of the mean-field marginals of h2 averaged over
        the data, smoothed the same way. Any base biases give an unbiased estimate of Z; these make the base
        model close to the DBM's marginal of [v, h2], which lowers the variance. Pass to
        ``crbm.ais(dbm.joint_rbm, base_bias=...)``."""
        mean_mu2 = sum(self.mean_field(chunk)[1].sum(0) for chunk in torch.split(data, batch_size)) / data.shape[0]
        return torch.cat([base_rate_bias(data, eps=eps), base_rate_bias(mean_mu2.unsqueeze(0), eps=eps)])

    # ------------------------------------------------------------------ trainer protocol
    def gradient(self, batch: tuple[Tensor, ...], config: TrainConfig, *, state: dict, generator):
        """Trainer hook (Salakhutdinov & Hinton 2009, algorithm 1): ascent directions for one mini-batch ``(v,)``.

        Positive statistics from the mean-field q with v clamped (``mean_field_steps`` updates): on the joint
        RBM, x_pos = [v, mu2] and h1 = mu1. Negative statistics from ``config.n_chains`` (default: the batch
        size) persistent chains x = [v, h2] kept in ``state["chain"]``, advanced ``config.k`` block-Gibbs steps
        per update; h1 enters through E[h1 | x] (Rao-Blackwellised). New chains start at random rows of the
        batch with h2 drawn from their mean-field marginals. Directions:

            d weight = x_pos^T mu1 / batch - x_neg^T E[h1 | x_neg] / n_chains
            d visible_bias = mean(x_pos) - mean(x_neg);   d hidden_bias = mean(mu1) - mean(E[h1 | x_neg])

        Figure ``recon_error``: sum_i (v_i - sigmoid(b + W1 mu1)_i)^2 per example. The chains are always
        persistent (``config.persistent`` and ``config.mean_visible`` are not used)."""
        if config.sparsity_target is not None:
            raise CRBMError("DBM training does not support TrainConfig.sparsity_target; leave it None")
        (v,) = batch[:1]
        rbm = self.joint_rbm
        mu1, mu2 = self._mean_field(v, self.mean_field_steps)
        chain = state.get("chain")
        if chain is None:
            n = config.n_chains or v.shape[0]
            idx = torch.randint(0, v.shape[0], (n,), generator=torch_generator(generator), device=v.device)
            h2 = uniform(mu2[idx].shape, torch_generator(generator), mu2).lt_(mu2[idx])
            chain = self._joint(v[idx], h2)
        chain = rbm.gibbs(chain, config.k, generator=generator)
        state["chain"] = chain
        ph_neg = rbm.hidden_mean(chain)
        x_pos = self._joint(v, mu2)
        directions = {
            "joint_rbm.weight": weight_statistics(x_pos, mu1, chain, ph_neg),
            "joint_rbm.visible_bias": x_pos.mean(0) - chain.mean(0),
            "joint_rbm.hidden_bias": mu1.mean(0) - ph_neg.mean(0),
        }
        recon = self._block_mean(mu1, 0)
        return directions, {"recon_error": (v - recon).square().sum() / v.shape[0]}

    def monitor(self, v: Tensor) -> Tensor:
        """Mean variational free energy E_q[E] - H(q) of a batch (an upper bound on the free energy; for the
        train/validation gap)."""
        return -self.elbo(v, 0.0).mean()


def _entropy(mu: Tensor) -> Tensor:
    """Sum of the binary entropies of independent units with means ``mu``, shape (batch,)."""
    return -(torch.xlogy(mu, mu) + torch.xlogy(1 - mu, 1 - mu)).sum(-1)


class _DoubledInput(RBM):
    """The first pretraining RBM: p(h | v) = sigmoid(2 v W + c), p(v | h) = sigmoid(W h + b) (two tied copies
    of the visible layer feed the hidden units; section 3.1 of the paper)."""

    def conditioned(self, visible_bias=None, hidden_bias=None, *, counts=None):
        view = super().conditioned(visible_bias, hidden_bias, counts=counts)
        view.weight_in = 2 * view.weight_in  # (2 v) W = v (2 W) exactly
        return view


class _DoubledTopDown(RBM):
    """The second pretraining RBM: p(h2 | h1) = sigmoid(h1 W + c), p(h1 | h2) = sigmoid(2 W h2 + b) (two tied
    copies of the top layer feed the layer below)."""

    def conditioned(self, visible_bias=None, hidden_bias=None, *, counts=None):
        view = super().conditioned(visible_bias, hidden_bias, counts=counts)
        view.weight_out = 2 * view.weight_out  # (2 h) W^T = h (2 W)^T exactly
        return view


def pretrain_dbm(
    data: Tensor,
    n_h1: int,
    n_h2: int,
    configs: TrainConfig | Sequence[TrainConfig] | None = None,
    *,
    mean_field_steps: int = 10,
    generator: torch.Generator | None = None,
) -> DBM:
    """Greedy pretraining of a two-layer DBM (Salakhutdinov & Hinton 2009, section 3.1), on the engine's RBM
    and ``crbm.fit`` (CD or PCD as each config says):

    1. RBM 1, v -> h1, with the bottom-up input doubled: p(h1 | v) = sigmoid(2 v W1 + c1'), p(v | h1) =
       sigmoid(W1 h1 + b); trained on ``data``.
    2. RBM 2, h1 -> h2, with the top-down input doubled: p(h1 | h2) = sigmoid(2 W2 h2 + b'), p(h2 | h1) =
       sigmoid(h1 W2 + c2); trained on RBM 1's hidden means sigmoid(2 v W1 + c1') of the data.
    3. Composition: in the DBM h1 receives input from both v and h2, so each RBM's doubled input is halved:
       the DBM takes W1, W2, b and c2 as learned, and c1 = (c1' + b') / 2, so that
       p(h1 | v, h2) = sigmoid(v W1 + W2 h2 + c1) is the average of the two RBMs' doubled pre-activations.

    Args:
        data: (N, n_visible) in [0, 1].
        n_h1, n_h2: hidden-layer sizes.
        configs: one TrainConfig for both RBMs or a pair (RBM 1, RBM 2). The pretraining RBMs have their own
            conditionals and are not checkpoint kinds of their own: leave ``checkpoint`` unset.
        generator: random source of the initial weights (training draws come from each config's seed).

    Returns the composed DBM (the data's dtype, on the device RBM 1 was trained on)."""
    if not isinstance(data, Tensor) or data.ndim != 2 or not data.is_floating_point():
        got = f"{data.dtype} {tuple(data.shape)}" if isinstance(data, Tensor) else type(data).__name__
        raise CRBMError(f"data: expected a floating torch.Tensor of shape (N, n_visible), got {got}")
    cfgs = per_layer(configs, 2, "configs", "TrainConfigs", TrainConfig())
    n_visible = data.shape[1]
    dbm = DBM(n_visible, n_h1, n_h2, mean_field_steps=mean_field_steps, dtype=data.dtype, device=data.device)
    dbm.check_visible(data, "data")
    lower = _DoubledInput(n_visible, n_h1, dtype=data.dtype, generator=generator)
    fit(lower, data, cfgs[0])
    features = up_pass([lower], data.to(lower.weight.device))  # sigmoid(2 v W1 + c1')
    upper = _DoubledTopDown(n_h1, n_h2, dtype=data.dtype, generator=generator)
    fit(upper, features, cfgs[1])
    dbm.to(lower.weight.device)
    with torch.no_grad():
        rbm = dbm.joint_rbm
        rbm.weight[:n_visible] = lower.weight
        rbm.weight[n_visible:] = upper.weight.to(rbm.weight.device).T
        rbm.visible_bias[:n_visible] = lower.visible_bias
        rbm.visible_bias[n_visible:] = upper.hidden_bias.to(rbm.weight.device)
        rbm.hidden_bias.copy_((lower.hidden_bias + upper.visible_bias.to(rbm.weight.device)) / 2)
    return dbm
