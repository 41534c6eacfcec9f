"""Collaborative filtering: the RBM of Salakhutdinov, Mnih & Hinton (ICML 2007), its conditional variant, and
the baselines it is measured against.

Every user is its own RBM over the items it rated (the *case*; with ``by="item"`` the roles swap: an item is
an RBM over the users who rated it, the I-RBM). Item i rated by the case is one softmax group of K units, one
per rating level (``v_ik = 1`` when the rating is level k); unrated items are simply absent. The F binary
hidden units and all weights are shared by every case:

    E(V, h) = - sum_{i in R} sum_k sum_j W_ikj v_ik h_j - sum_{i in R} sum_k b_ik v_ik - sum_j h_j (c_j + s_j)

where R is the case's rated items and ``s = sum_{i in C} D_i`` is the conditional model's shift from C, the
items the case is *known* to have rated (R plus those whose rating is asked for; ``D`` (n_items, F) is absent
in the plain model). Given the case, this is exactly an engine RBM (``crbm.RBM`` with ``Softmax(group=K)``
visibles over the items of R, hidden bias c + s; ``RatingRBM.case_rbm``), so

    p(h_j = 1 | V) = sigmoid(c_j + s_j + sum_{i in R} W_{i r_i j})
    p(v_ik = 1 | h) = softmax_k(b_ik + sum_j W_ikj h_j),   i in R

and a missing item changes nothing. Weights are stored flat like the engine's: ``weight`` (n_items * K, F),
row ``i * K + k``; ``visible_bias`` (n_items * K,). CD-k statistics for a mini-batch of B cases, summed over
each case's rated items and divided by B (``RatingRBM.gradient``, trained by ``crbm.engine.train.fit``):

    dW_ikj = v_ik p(h_j | V) - v~_ik p(h_j | V~),  db_ik = v_ik - v~_ik,  dc_j = p(h_j | V) - p(h_j | V~),
    dD_ij = [i in C] (p(h_j | V) - p(h_j | V~))

with V~ the visible state after k Gibbs steps restricted to R (its softmax means when
``TrainConfig.mean_visible``). Prediction of item q for a case is exact (the paper's first formula):

    p(v_qk = 1 | V) proportional to exp(b_qk) prod_j (1 + exp(c_j + s_j + sum_{i in R} W_{i r_i j} + W_qkj)),
    rating = sum_k level_k p(v_qk = 1 | V)

(q counts in C for the conditional model). Ratings are held per case in compressed rows (``RatingData``): no
dense case x item matrix is ever built.

The fit / predict API (``RBMRecommender``, ``MFRecommender``, ``BiasRecommender``, ``SVDRecommender``) takes
ratings as a DataFrame or a Parquet / MovieLens file (``crbm.data.movielens.read_ratings``): columns ``user``,
``item``, ``rating``; ``predict`` takes (user, item) pairs and returns one float64 rating per row. Pairs whose
user or item never appeared in training get the training mean rating (and the user's or item's bias where the
model has one: the matrix factorisation, bias and SVD models).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crbm.data.movielens import read_ratings
from crbm.engine.checkpoint import register_model
from crbm.engine.checks import check_nonnegative, check_positive_int, is_number, is_positive_int
from crbm.engine.errors import CRBMError
from crbm.engine.rbm import RBM, normal_weights
from crbm.engine.train import Callback, TensorData, TrainConfig, fit, fit_phases
from crbm.engine.units import Bernoulli, Softmax

_BY = ("user", "item")


def _segments(indptr: Tensor, idx: Tensor) -> tuple[Tensor, Tensor]:
    """For compressed rows ``indptr`` and the rows ``idx`` (B,): (row, pos), each (nnz,): the position in
    ``idx`` of every stored entry of those rows and the entry's position in the stored arrays."""
    starts = indptr[idx]
    lengths = indptr[idx + 1] - starts
    row = torch.repeat_interleave(torch.arange(idx.shape[0], device=idx.device), lengths)
    first = torch.cumsum(lengths, 0) - lengths  # where each row's entries begin in the output
    pos = starts[row] + torch.arange(row.shape[0], device=idx.device) - first[row]
    return row, pos


def _compress(n_rows: int, rows: Tensor, *columns: Tensor) -> tuple[Tensor, ...]:
    """Sort entries by row (stably) and return (indptr (n_rows + 1,), the columns in that order)."""
    order = torch.sort(rows, stable=True).indices
    indptr = torch.zeros(n_rows + 1, dtype=torch.int64, device=rows.device)
    indptr[1:] = torch.cumsum(torch.bincount(rows, minlength=n_rows), 0)
    return (indptr, *(c[order] for c in columns))


class RatingData:
    """Ratings grouped by case, in compressed rows, for ``crbm.engine.train.fit``.

    Args:
        n_cases: number of cases (users; items for the item-based model).
        case, item, level: int64 tensors (N,): who rated what, and the rating level in [0, n_levels).
        known_case, known_item: optional (M,) pairs known to be rated whose rating is not given (e.g. the
            pairs to predict); with the rated pairs they make each case's set C of the conditional model.

    ``batch(idx)`` for cases ``idx`` (B,) returns ``(idx, row, item, level, c_row, c_item)``: for every rating
    of those cases its position in ``idx``, its item and level (nnz,), and likewise for every pair of C."""

    def __init__(
        self,
        n_cases: int,
        case: Tensor,
        item: Tensor,
        level: Tensor,
        *,
        known_case: Tensor | None = None,
        known_item: Tensor | None = None,
    ):
        self.n_cases = n_cases
        self.indptr, self.item, self.level = _compress(n_cases, case, item, level)
        both_case = case if known_case is None else torch.cat([case, known_case])
        both_item = item if known_item is None else torch.cat([item, known_item])
        width = int(both_item.max()) + 1 if both_item.numel() else 1
        unique = torch.unique(both_case * width + both_item)  # C: each (case, item) once
        self.c_indptr, self.c_item = _compress(n_cases, unique // width, unique % width)

    def __len__(self) -> int:
        return self.n_cases

    def to(self, device) -> RatingData:
        out = object.__new__(RatingData)
        out.__dict__ = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in self.__dict__.items()}
        return out

    def batch(self, idx: Tensor) -> tuple[Tensor, ...]:
        row, pos = _segments(self.indptr, idx)
        c_row, c_pos = _segments(self.c_indptr, idx)
        return idx, row, self.item[pos], self.level[pos], c_row, self.c_item[c_pos]

    def with_known(self, case: Tensor, item: Tensor) -> RatingData:
        """The same ratings with the pairs (case, item) added to C."""
        out = self.to(self.indptr.device)
        both_case = torch.repeat_interleave(torch.arange(self.n_cases, device=case.device),
                                            self.c_indptr[1:] - self.c_indptr[:-1])
        width = max(int(self.c_item.max()) if self.c_item.numel() else 0, int(item.max()) if item.numel() else 0) + 1
        unique = torch.unique(torch.cat([both_case * width + self.c_item, case * width + item]))
        out.c_indptr, out.c_item = _compress(self.n_cases, unique // width, unique % width)
        return out


@register_model
class RatingRBM(nn.Module):
    """The RBM for collaborative filtering (see the module docstring).

    Args:
        n_items: items (users for the item-based model); n_levels: rating levels K (>= 2);
        n_hidden: binary hidden units F; conditional: add the weights D of the conditional RBM.
        init_std: weights start ~ N(0, init_std^2); biases and D at zero. generator: random source of the
            initial weights.

    Parameters: ``weight`` (n_items * n_levels, n_hidden), ``visible_bias`` (n_items * n_levels,),
    ``hidden_bias`` (n_hidden,), and ``implicit_weight`` (n_items, n_hidden) when conditional."""

    kind = "RatingRBM"

    def __init__(
        self,
        n_items: int,
        n_levels: int,
        n_hidden: int,
        *,
        conditional: bool = False,
        init_std: float = 0.01,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        for name, n in (("n_items", n_items), ("n_hidden", n_hidden)):
            check_positive_int(n, name)
        if check_positive_int(n_levels, "n_levels") < 2:
            raise CRBMError(f"n_levels must be at least 2 (rating levels), got {n_levels}")
        check_nonnegative(init_std, "init_std")
        self.n_items, self.n_levels, self.n_hidden = n_items, n_levels, n_hidden
        self.conditional, self.init_std = bool(conditional), float(init_std)
        self.hidden = Bernoulli()
        self.visible = Softmax()  # one group per rated item: applied to (nnz, n_levels) logits
        w = normal_weights((n_items * n_levels, n_hidden), init_std, generator=generator, dtype=dtype, device=device)
        self.weight = nn.Parameter(w)
        self.visible_bias = nn.Parameter(torch.zeros(n_items * n_levels, dtype=dtype, device=device))
        self.hidden_bias = nn.Parameter(torch.zeros(n_hidden, dtype=dtype, device=device))
        if self.conditional:
            self.implicit_weight = nn.Parameter(torch.zeros(n_items, n_hidden, dtype=dtype, device=device))

    def config(self) -> dict:
        return {"n_items": self.n_items, "n_levels": self.n_levels, "n_hidden": self.n_hidden,
                "conditional": self.conditional, "init_std": self.init_std}

    @classmethod
    def from_config(cls, config: dict, *, dtype=torch.float32, device=None) -> RatingRBM:
        return cls(**config, dtype=dtype, device=device)

    def extra_repr(self) -> str:
        kind = "conditional, " if self.conditional else ""
        return f"{self.n_items} items x {self.n_levels} levels -> {self.n_hidden} hidden ({kind}softmax visibles)"

    def decayed_parameters(self) -> tuple[str, ...]:
        """Weight decay applies to W and D, never the biases."""
        return ("weight", "implicit_weight") if self.conditional else ("weight",)

    def _weight3(self) -> Tensor:
        return self.weight.view(self.n_items, self.n_levels, self.n_hidden)

    # ------------------------------------------------------------------ the per-case engine RBM
    def case_rbm(self, items: Tensor, known: Tensor | None = None) -> RBM:
        """The engine RBM of one case that rated ``items`` (L,): ``Softmax(group=n_levels)`` visibles over those
        items in that order (n_visible = L * n_levels), the shared weights' rows, and hidden bias c + sum of D
        over ``known`` (the set C, conditional model; default: ``items``). A copy: changing it leaves this
        model unchanged."""
        known = items if known is None else known
        rbm = RBM(items.shape[0] * self.n_levels, self.n_hidden, visible=Softmax(group=self.n_levels),
                  dtype=self.weight.dtype, device=self.weight.device, init_std=0.0)
        with torch.no_grad():
            rbm.weight.copy_(self._weight3()[items].reshape(-1, self.n_hidden))
            rbm.visible_bias.copy_(self.visible_bias.view(self.n_items, self.n_levels)[items].reshape(-1))
            shift = self.implicit_weight[known].sum(0) if self.conditional else 0.0
            rbm.hidden_bias.copy_(self.hidden_bias + shift)
        return rbm

    # ------------------------------------------------------------------ conditionals on a batch of cases
    def hidden_shift(self, n_cases: int, c_row: Tensor, c_item: Tensor) -> Tensor | None:
        """s = sum over each case's known items of D, (n_cases, n_hidden); None for the plain model."""
        if not self.conditional:
            return None
        return self.hidden_bias.new_zeros(n_cases, self.n_hidden).index_add_(0, c_row, self.implicit_weight[c_item])

    def hidden_pre(self, n_cases: int, row: Tensor, item: Tensor, v: Tensor, shift: Tensor | None) -> Tensor:
        """c + s + sum_{i in R} sum_k v_ik W_ik for each case, (n_cases, n_hidden). ``v``: the levels (nnz,)
        int64, or level probabilities (nnz, n_levels)."""
        if v.dtype == torch.int64:
            rows = self.weight.index_select(0, item * self.n_levels + v)
        else:
            rows = torch.einsum("nk,nkh->nh", v, self._weight3()[item])
        pre = self.hidden_bias.expand(n_cases, -1) if shift is None else self.hidden_bias + shift
        return pre.index_add(0, row, rows)

    def visible_logits(self, h: Tensor, row: Tensor, item: Tensor) -> Tensor:
        """b_ik + sum_j W_ikj h_j for every rated pair (the case of pair n is ``row[n]``), (nnz, n_levels)."""
        b = self.visible_bias.view(self.n_items, self.n_levels)[item]
        return b + torch.einsum("nkh,nh->nk", self._weight3()[item], h[row])

    # ------------------------------------------------------------------ trainer protocol
    def gradient(self, batch: tuple[Tensor, ...], config: TrainConfig, *, state: dict, generator):
        """Trainer hook: CD-``config.k`` statistics of a batch of cases ``RatingData.batch(idx)`` (module
        docstring). Figure ``recon_error``: sum over rated items of the squared difference between the one-hot
        rating and its first reconstruction, per case."""
        idx, row, item, level, c_row, c_item = batch
        n, k = idx.shape[0], config.k
        if config.persistent:
            raise CRBMError("RatingRBM trains by CD-k: each case has its own visible units (persistent=False)")
        v_pos = F.one_hot(level, self.n_levels).to(self.weight.dtype)
        shift = self.hidden_shift(n, c_row, c_item)
        pre = self.hidden_pre(n, row, item, level, shift)
        ph_pos = self.hidden.mean(pre)
        h = self.hidden.sample(pre, generator=generator)
        recon = None
        for step in range(k):
            logits = self.visible_logits(h, row, item)
            mean = self.visible.mean(logits)
            v_neg = mean if config.mean_visible else self.visible.sample(logits, generator=generator)
            if recon is None:
                recon = mean
            pre_neg = self.hidden_pre(n, row, item, v_neg, shift)
            if step < k - 1:
                h = self.hidden.sample(pre_neg, generator=generator)
        ph_neg = self.hidden.mean(pre_neg)
        pair = v_pos.unsqueeze(2) * ph_pos[row].unsqueeze(1) - v_neg.unsqueeze(2) * ph_neg[row].unsqueeze(1)
        grads = {
            "weight": torch.zeros_like(self._weight3()).index_add_(0, item, pair).view_as(self.weight) / n,
            "visible_bias": torch.zeros_like(self.visible_bias).view(self.n_items, self.n_levels)
            .index_add_(0, item, v_pos - v_neg).view(-1) / n,
            "hidden_bias": (ph_pos - ph_neg).mean(0),
        }
        if self.conditional:
            grads["implicit_weight"] = torch.zeros_like(self.implicit_weight).index_add_(
                0, c_item, (ph_pos - ph_neg)[c_row]) / n
        return grads, {"recon_error": (v_pos - recon).square().sum() / n}

    @torch.no_grad()
    def set_base_rates(self, data: RatingData, *, prior: float = 1.0) -> None:
        """Visible biases b_ik = log((n_ik + prior * p_k) / (n_i + prior)): each item's rating frequencies,
        smoothed towards the overall frequencies p_k (Hinton's guide: start the visible biases at the log
        base rates)."""
        counts = torch.zeros(self.n_items * self.n_levels, dtype=torch.float64, device=data.item.device)
        counts.index_add_(0, data.item * self.n_levels + data.level, torch.ones_like(data.item, dtype=counts.dtype))
        counts = counts.view(self.n_items, self.n_levels)
        overall = counts.sum(0) / counts.sum().clamp(min=1)
        rates = (counts + prior * overall) / (counts.sum(1, keepdim=True) + prior)
        self.visible_bias.copy_(rates.clamp(min=1e-6).log().reshape(-1).to(self.visible_bias))

    # ------------------------------------------------------------------ prediction
    @torch.no_grad()
    def predict_proba(self, data: RatingData, case: Tensor, item: Tensor, *, batch_size: int = 4096) -> Tensor:
        """Exact p(v_qk = 1 | V) for query pairs (case (Q,), item (Q,)) given each case's ratings in ``data``
        (and its set C there), (Q, n_levels)."""
        device = self.weight.device
        case, item = case.to(device), item.to(device)
        data = data.to(device)
        cases, where = torch.unique(case, return_inverse=True)
        pre = []
        for chunk in torch.split(cases, batch_size):
            idx, row, it, level, c_row, c_item = data.batch(chunk)
            pre.append(self.hidden_pre(idx.shape[0], row, it, level, self.hidden_shift(idx.shape[0], c_row, c_item)))
        pre = torch.cat(pre) if pre else self.hidden_bias.new_zeros(0, self.n_hidden)
        out = []
        b = self.visible_bias.view(self.n_items, self.n_levels)
        for w_chunk, i_chunk in zip(torch.split(where, batch_size), torch.split(item, batch_size)):
            # log p(v_qk) = b_qk + sum_j softplus(pre_j + W_qkj) + const  (the hidden units summed out)
            logits = b[i_chunk] + self.hidden.log_partition(pre[w_chunk].unsqueeze(1) + self._weight3()[i_chunk])
            out.append(torch.softmax(logits, -1))
        return torch.cat(out) if out else self.weight.new_zeros(0, self.n_levels)


@register_model
class BiasedMF(nn.Module):
    """Biased matrix factorisation (Koren, Bell & Volinsky 2009): r^_ui = mu + b_u + b_i + p_u . q_i, trained
    on the squared error with the L2 penalty of each rating's own parameters (Funk's SGD, ``gradient``).

    Parameters: ``user_factors`` (n_users, n_factors), ``item_factors`` (n_items, n_factors) ~ N(0, init_std^2),
    ``user_bias`` (n_users,), ``item_bias`` (n_items,). ``mean``: mu, fixed (the training mean)."""

    kind = "BiasedMF"

    def __init__(
        self,
        n_users: int,
        n_items: int,
        n_factors: int,
        *,
        mean: float = 0.0,
        reg: float = 0.02,
        init_std: float = 0.1,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device | None = None,
        generator: torch.Generator | None = None,
    ):
        super().__init__()
        for name, n in (("n_users", n_users), ("n_items", n_items), ("n_factors", n_factors)):
            check_positive_int(n, name)
        for name, x in (("mean", mean), ("reg", reg), ("init_std", init_std)):
            if not is_number(x):
                raise CRBMError(f"{name} must be a finite number, got {x!r}")
        if reg < 0 or init_std < 0:
            raise CRBMError(f"reg and init_std must be >= 0, got {reg!r} and {init_std!r}")
        self.n_users, self.n_items, self.n_factors = n_users, n_items, n_factors
        self.mean, self.reg, self.init_std = float(mean), float(reg), float(init_std)

        def factors(n: int) -> nn.Parameter:
            return nn.Parameter(normal_weights((n, n_factors), init_std, generator=generator, dtype=dtype,
                                               device=device))

        self.user_factors, self.item_factors = factors(n_users), factors(n_items)
        self.user_bias = nn.Parameter(torch.zeros(n_users, dtype=dtype, device=device))
        self.item_bias = nn.Parameter(torch.zeros(n_items, dtype=dtype, device=device))

    def config(self) -> dict:
        return {"n_users": self.n_users, "n_items": self.n_items, "n_factors": self.n_factors, "mean": self.mean,
                "reg": self.reg, "init_std": self.init_std}

    @classmethod
    def from_config(cls, config: dict, *, dtype=torch.float32, device=None) -> BiasedMF:
        return cls(**config, dtype=dtype, device=device)

    def decayed_parameters(self) -> tuple[str, ...]:
        """None: the penalty is per rating, inside ``gradient`` (``reg``)."""
        return ()

    def forward(self, user: Tensor, item: Tensor) -> Tensor:
        """r^ for pairs (user (N,), item (N,)), (N,)."""
        dot = (self.user_factors[user] * self.item_factors[item]).sum(-1)
        return self.mean + self.user_bias[user] + self.item_bias[item] + dot

    def gradient(self, batch: tuple[Tensor, ...], config: TrainConfig, *, state: dict, generator):
        """Trainer hook for ``batch = (user, item, rating)``: the sum over the batch's ratings of Funk's
        per-rating step directions  e q_i - reg p_u,  e p_u - reg q_i,  e - reg b_u,  e - reg b_i
        (e = r - r^). Figure ``mse``: the batch's mean squared error before the step."""
        user, item, rating = batch
        e = rating - self(user, item)
        p, q = self.user_factors[user], self.item_factors[item]
        reg = self.reg
        out = {
            "user_factors": torch.zeros_like(self.user_factors).index_add_(0, user, e[:, None] * q - reg * p),
            "item_factors": torch.zeros_like(self.item_factors).index_add_(0, item, e[:, None] * p - reg * q),
            "user_bias": torch.zeros_like(self.user_bias).index_add_(0, user, e - reg * self.user_bias[user]),
            "item_bias": torch.zeros_like(self.item_bias).index_add_(0, item, e - reg * self.item_bias[item]),
        }
        return out, {"mse": e.square().mean()}


# ------------------------------------------------------------------------------------------ fit / predict API
class RatingIndex:
    """Fitted preprocessing: the training users, items and rating levels (sorted distinct values)."""

    def __init__(self, ratings):
        import pandas as pd

        if len(ratings) == 0:
            raise CRBMError("ratings: no rows to fit")
        self.users = pd.Index(pd.unique(ratings["user"]))
        self.items = pd.Index(pd.unique(ratings["item"]))
        self.levels = np.unique(ratings["rating"].to_numpy())
        self.mean = float(ratings["rating"].mean())

    def codes(self, table) -> tuple[Tensor, Tensor]:
        """User and item indices of every row of ``table`` (-1 where unseen in training), (N,) int64 each."""
        return (torch.from_numpy(self.users.get_indexer(table["user"]).astype(np.int64)),
                torch.from_numpy(self.items.get_indexer(table["item"]).astype(np.int64)))

    def level_codes(self, table) -> Tensor:
        """Rating level index of every row of a training table, (N,) int64."""
        return torch.from_numpy(np.searchsorted(self.levels, table["rating"].to_numpy()).astype(np.int64))


class Recommender:
    """The shared fit / predict surface. Subclasses implement ``_fit(table, **kw)`` (``self.index`` is set),
    ``_predict(user, item)`` for pairs whose user and item were both seen in training (int64 index tensors,
    (N,) each; returns float64 ratings (N,), numpy) and ``_fallback(user, item)`` for every pair (indices -1
    where unseen; only the pairs ``_predict`` does not cover keep its values)."""

    index: RatingIndex | None = None

    def fit(self, ratings, **kw) -> Recommender:
        """Train on ``ratings`` (DataFrame or Parquet / MovieLens file with user, item, rating columns)."""
        table = read_ratings(ratings)
        self.index = RatingIndex(table)
        self._fit(table, **kw)
        return self

    def predict(self, pairs) -> np.ndarray:
        """Predicted ratings of the (user, item) rows of ``pairs`` (DataFrame or file), (N,) float64, clipped to
        the training levels' range."""
        if self.index is None:
            raise CRBMError(f"{type(self).__name__}: call fit before predict")
        table = read_ratings(pairs, what="pairs", rating=False)
        user, item = self.index.codes(table)
        known = (user >= 0) & (item >= 0)
        out = self._fallback(user, item)
        if bool(known.any()):
            out[known.numpy()] = self._predict(user[known], item[known])
        return np.clip(out, self.index.levels[0], self.index.levels[-1])

    def rmse(self, ratings) -> float:
        """Root mean squared error of ``predict`` on the rows of ``ratings``."""
        table = read_ratings(ratings)
        return float(np.sqrt(np.mean((self.predict(table) - table["rating"].to_numpy()) ** 2)))

    def _fallback(self, user: Tensor, item: Tensor) -> np.ndarray:
        return np.full(user.shape[0], self.index.mean)

    def _fit(self, table, **kw) -> None:
        raise NotImplementedError

    def _predict(self, user: Tensor, item: Tensor) -> np.ndarray:
        raise NotImplementedError


class RBMRecommender(Recommender):
    """Collaborative filtering with a ``RatingRBM`` (module docstring), trained by ``crbm.engine.train.fit``.

    Args:
        n_hidden: hidden units F.
        conditional: the conditional RBM (conditions on which items each case is known to have rated).
        by: "user" (the paper's model: a user is an RBM over its items) or "item" (the I-RBM).
        config: the TrainConfig (batch_size counts cases).
        stages: (epochs, k) run one after another (CD-k with k raised as training goes, as in the paper);
            default one stage of ``config.epochs`` with ``config.k``. Momentum restarts at the final value in
            later stages.
        init_std: initial weight scale. Everything random comes from ``config.seed``.

    ``fit(ratings, *, known=None, callbacks=())``: ``known`` (DataFrame or file of user, item pairs whose
    ratings are not given, such as the pairs to predict; pairs with a user or item unseen in the ratings are
    ignored) joins each case's set C (conditional model);
    ``callbacks`` as in ``crbm.engine.train.fit`` (``predict`` works inside them). ``predict`` adds the queried pairs
    to C."""

    def __init__(
        self,
        n_hidden: int = 100,
        *,
        conditional: bool = False,
        by: str = "user",
        config: TrainConfig | None = None,
        stages: Sequence[tuple[int, int]] | None = None,
        init_std: float = 0.01,
    ):
        if by not in _BY:
            raise CRBMError(f"by must be one of {list(_BY)}, got {by!r}")
        self.n_hidden, self.conditional = check_positive_int(n_hidden, "n_hidden"), bool(conditional)
        self.by, self.init_std = by, init_std
        self.config = config or TrainConfig()
        if not isinstance(self.config, TrainConfig):
            raise CRBMError(f"config: expected a crbm.TrainConfig, got {type(self.config).__name__}")
        self.stages = [(self.config.epochs, self.config.k)] if stages is None else [tuple(s) for s in stages]
        for s in self.stages:
            if len(s) != 2 or any(not is_positive_int(x) for x in s):
                raise CRBMError(f"stages: expected (epochs, k) pairs of positive integers, got {stages!r}")
        self.model: RatingRBM | None = None
        self.data: RatingData | None = None

    def _cases(self, user: Tensor, item: Tensor) -> tuple[Tensor, Tensor]:
        return (user, item) if self.by == "user" else (item, user)

    def _fit(self, table, *, known=None, callbacks: Sequence[Callback] = ()) -> None:
        index = self.index
        if len(index.levels) < 2:
            raise CRBMError(f"ratings: every rating is {index.levels[0]:g}; the RBM needs at least two rating values")
        case, item = self._cases(*index.codes(table))
        n_cases, n_items = (len(index.users), len(index.items))
        if self.by == "item":
            n_cases, n_items = n_items, n_cases
        kc = ki = None
        if known is not None:
            ku, kit = index.codes(read_ratings(known, what="known", rating=False))
            keep = (ku >= 0) & (kit >= 0)
            kc, ki = self._cases(ku[keep], kit[keep])
        self.data = RatingData(n_cases, case, item, index.level_codes(table), known_case=kc, known_item=ki)
        cfg = self.config
        gen = torch.Generator().manual_seed(cfg.seed)
        self.model = RatingRBM(n_items, len(index.levels), self.n_hidden, conditional=self.conditional,
                               init_std=self.init_std, generator=gen)
        self.model.set_base_rates(self.data)
        phases = []
        for stage, (epochs, k) in enumerate(self.stages):
            momentum_epochs = cfg.momentum_epochs if stage == 0 else 0
            phases.append((self.data, dataclasses.replace(cfg, epochs=epochs, k=k, seed=cfg.seed + stage,
                                                          momentum_epochs=momentum_epochs)))
        fit_phases(self.model, phases, callbacks=callbacks)

    def _predict(self, user: Tensor, item: Tensor) -> np.ndarray:
        case, it = self._cases(user, item)
        data = self.data.with_known(case, it) if self.conditional else self.data
        p = self.model.predict_proba(data, case, it).double().cpu()
        return (p @ torch.from_numpy(self.index.levels)).numpy()


class MFRecommender(Recommender):
    """Biased matrix factorisation (``BiasedMF``) trained by ``crbm.engine.train.fit`` on mini-batches of ratings.

    Args: n_factors; reg (the per-rating L2 penalty); config (batch_size counts ratings; weight_decay is not
    used: the penalty is ``reg``); init_std of the factors. Unknown users or items get mu + the known bias."""

    def __init__(self, n_factors: int = 50, *, reg: float = 0.05, config: TrainConfig | None = None,
                 init_std: float = 0.1):
        self.n_factors, self.reg, self.init_std = check_positive_int(n_factors, "n_factors"), reg, init_std
        self.config = dataclasses.replace(config or TrainConfig(batch_size=100, learning_rate=0.005), weight_decay=0.0)
        self.model: BiasedMF | None = None

    def _fit(self, table, *, callbacks: Sequence[Callback] = ()) -> None:
        user, item = self.index.codes(table)
        rating = _rating_tensor(table).float()
        gen = torch.Generator().manual_seed(self.config.seed)
        self.model = BiasedMF(len(self.index.users), len(self.index.items), self.n_factors, mean=self.index.mean,
                              reg=self.reg, init_std=self.init_std, generator=gen)
        fit(self.model, TensorData(user, item, rating), self.config, callbacks=callbacks)

    @torch.no_grad()
    def _predict(self, user: Tensor, item: Tensor) -> np.ndarray:
        device = self.model.user_bias.device
        return self.model(user.to(device), item.to(device)).double().cpu().numpy()

    @torch.no_grad()
    def _fallback(self, user: Tensor, item: Tensor) -> np.ndarray:
        bu = torch.where(user >= 0, self.model.user_bias.cpu()[user.clamp(min=0)], 0.0)
        bi = torch.where(item >= 0, self.model.item_bias.cpu()[item.clamp(min=0)], 0.0)
        return (self.index.mean + bu + bi).double().numpy()


def _rating_tensor(table) -> Tensor:
    return torch.from_numpy(table["rating"].to_numpy(dtype=np.float64, copy=True))


def bias_terms(user: Tensor, item: Tensor, rating: Tensor, n_users: int, n_items: int, *, mean: float,
               reg_item: float, reg_user: float) -> tuple[Tensor, Tensor]:
    """Regularised biases in closed form (Koren 2008): b_i = sum_{u in R(i)} (r_ui - mu) / (reg_item + |R(i)|),
    then b_u = sum_{i in R(u)} (r_ui - mu - b_i) / (reg_user + |R(u)|). Returns (b_u (n_users,), b_i (n_items,)),
    float64."""
    r = rating.double() - mean
    ones = torch.ones_like(r)
    b_i = torch.zeros(n_items, dtype=torch.float64).index_add_(0, item, r)
    b_i /= reg_item + torch.zeros(n_items, dtype=torch.float64).index_add_(0, item, ones)
    b_u = torch.zeros(n_users, dtype=torch.float64).index_add_(0, user, r - b_i[item])
    b_u /= reg_user + torch.zeros(n_users, dtype=torch.float64).index_add_(0, user, ones)
    return b_u, b_i


class BiasRecommender(Recommender):
    """The baseline r^_ui = mu + b_u + b_i with ``bias_terms`` (reg_item = reg_user = 0 and
    ``biases=False``: the global mean alone)."""

    def __init__(self, *, reg_item: float = 25.0, reg_user: float = 10.0, biases: bool = True):
        if any(not (is_number(x) and x >= 0) for x in (reg_item, reg_user)):
            raise CRBMError(f"reg_item and reg_user must be finite numbers >= 0, got {reg_item!r}, {reg_user!r}")
        self.reg_item, self.reg_user, self.biases = reg_item, reg_user, biases

    def _fit(self, table) -> None:
        user, item = self.index.codes(table)
        rating = _rating_tensor(table)
        n_u, n_i = len(self.index.users), len(self.index.items)
        if not self.biases:
            self.b_u, self.b_i = torch.zeros(n_u, dtype=torch.float64), torch.zeros(n_i, dtype=torch.float64)
            return
        self.b_u, self.b_i = bias_terms(user, item, rating, n_u, n_i, mean=self.index.mean, reg_item=self.reg_item,
                                        reg_user=self.reg_user)

    def _baseline(self, user: Tensor, item: Tensor) -> Tensor:
        """mu + b_u + b_i with the unknown side's bias 0, (N,) float64."""
        bu = torch.where(user >= 0, self.b_u[user.clamp(min=0)], 0.0)
        bi = torch.where(item >= 0, self.b_i[item.clamp(min=0)], 0.0)
        return self.index.mean + bu + bi

    def _predict(self, user: Tensor, item: Tensor) -> np.ndarray:
        return self._baseline(user, item).numpy()

    def _fallback(self, user, item) -> np.ndarray:
        return self._baseline(user, item).numpy()


class SVDRecommender(BiasRecommender):
    """Truncated SVD of the centred rating matrix: the residuals r_ui - (mu + b_u + b_i) of the bias baseline in
    a sparse user x item matrix (missing entries 0), its ``rank`` leading singular triplets (scipy's ``svds``,
    started from a seeded vector), and r^_ui = mu + b_u + b_i + sum_f U_uf S_f V_if."""

    def __init__(self, rank: int = 10, *, reg_item: float = 25.0, reg_user: float = 10.0, seed: int = 0):
        super().__init__(reg_item=reg_item, reg_user=reg_user)
        self.rank, self.seed = check_positive_int(rank, "rank"), seed

    def _fit(self, table) -> None:
        import scipy.sparse as sp
        from scipy.sparse.linalg import svds

        super()._fit(table)
        user, item = self.index.codes(table)
        resid = _rating_tensor(table) - self._baseline(user, item)
        shape = (len(self.index.users), len(self.index.items))
        if self.rank >= min(shape):
            raise CRBMError(f"rank must be below min(users, items) = {min(shape)}, got {self.rank}")
        matrix = sp.csr_matrix((resid.numpy(), (user.numpy(), item.numpy())), shape=shape)
        v0 = torch.rand(min(shape), generator=torch.Generator().manual_seed(self.seed), dtype=torch.float64)
        u, s, vt = svds(matrix, k=self.rank, v0=v0.numpy())
        self.user_part = torch.from_numpy(u * s)
        self.item_part = torch.from_numpy(vt.T.copy())

    def _predict(self, user: Tensor, item: Tensor) -> np.ndarray:
        low_rank = (self.user_part[user] * self.item_part[item]).sum(-1)
        return (self._baseline(user, item) + low_rank).numpy()
