"""Collaborative filtering: the rating RBM against enumeration and the engine RBM, the baselines against their
definitions, and the fit / predict API."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

import crbm
from crbm import CRBMError, TrainConfig
from crbm.engine.noise import ShardedGenerator
from crbm.static.collaborative import (
    BiasedMF,
    BiasRecommender,
    MFRecommender,
    RatingData,
    RatingRBM,
    RBMRecommender,
    SVDRecommender,
    bias_terms,
)

DT = torch.float64
K, H, N_ITEMS = 3, 3, 5


def tiny_model(conditional: bool = False, seed: int = 0) -> RatingRBM:
    g = torch.Generator().manual_seed(seed)
    m = RatingRBM(N_ITEMS, K, H, conditional=conditional, init_std=1.0, dtype=DT, generator=g)
    with torch.no_grad():
        for p in m.parameters():
            if p is not m.weight:
                p.normal_(0, 1, generator=g)
    return m


def energy(m: RatingRBM, items, levels, known, h: torch.Tensor) -> torch.Tensor:
    """E(V, h) written out from the definition for one case: rated ``items`` at ``levels``, set C = ``known``."""
    w = m.weight.view(N_ITEMS, K, H)
    b = m.visible_bias.view(N_ITEMS, K)
    e = -(m.hidden_bias * h).sum(-1)
    for i, k in zip(items, levels):
        e = e - b[i, k] - (w[i, k] * h).sum(-1)
    if m.conditional:
        e = e - (m.implicit_weight[list(known)].sum(0) * h).sum(-1)
    return e


H_STATES = torch.tensor(list(itertools.product([0.0, 1.0], repeat=H)), dtype=DT)


def one_case(items, levels, known=None):
    """A RatingData with one case and its batch."""
    known = items if known is None else known
    data = RatingData(1, torch.zeros(len(items), dtype=torch.int64), torch.tensor(items), torch.tensor(levels),
                      known_case=torch.zeros(len(known), dtype=torch.int64), known_item=torch.tensor(known))
    return data, data.batch(torch.tensor([0]))


@pytest.mark.parametrize("conditional", [False, True])
def test_hidden_conditional_matches_enumeration_and_ignores_missing_items(conditional):
    m = tiny_model(conditional)
    items, levels, known = [0, 3], [2, 0], [0, 3, 4]
    _, (idx, row, it, lv, c_row, c_item) = one_case(items, levels, known)
    ph = m.hidden.mean(m.hidden_pre(1, row, it, lv, m.hidden_shift(1, c_row, c_item)))[0]
    logp = -energy(m, items, levels, known, H_STATES)
    brute = (torch.softmax(logp, 0).unsqueeze(1) * H_STATES).sum(0)
    torch.testing.assert_close(ph, brute)
    with torch.no_grad():  # items outside R (and outside C) do not touch the hidden units
        m.weight.view(N_ITEMS, K, H)[[1, 2]] += 5.0
        m.visible_bias.view(N_ITEMS, K)[[1, 2, 4]] -= 3.0
        if conditional:
            m.implicit_weight[[1, 2]] += 7.0
    again = m.hidden.mean(m.hidden_pre(1, row, it, lv, m.hidden_shift(1, c_row, c_item)))[0]
    torch.testing.assert_close(again, ph)


def test_visible_conditional_is_the_softmax_of_the_enumerated_joint():
    m = tiny_model()
    items = [1, 2, 4]
    h = torch.tensor([[1.0, 0.0, 1.0]], dtype=DT)
    logits = m.visible_logits(h, torch.zeros(3, dtype=torch.int64), torch.tensor(items))
    states = list(itertools.product(range(K), repeat=len(items)))
    logp = torch.stack([-energy(m, items, s, items, h[0]) for s in states])
    p = torch.softmax(logp, 0)
    for n in range(len(items)):
        marginal = torch.stack([p[[s[n] == k for s in states]].sum() for k in range(K)])
        torch.testing.assert_close(torch.softmax(logits[n], 0), marginal)


@pytest.mark.parametrize("conditional", [False, True])
def test_prediction_is_the_exact_posterior_of_the_query_item(conditional):
    m = tiny_model(conditional, seed=3)
    items, levels, q = [0, 2], [1, 2], 4
    known = [0, 2, q]
    data, _ = one_case(items, levels, known)
    proba = m.predict_proba(data, torch.tensor([0]), torch.tensor([q]))[0]
    # p(v_q = k | V) = sum_h exp(-E(V + {q: k}, h)) / sum_{k', h} ...
    joint = torch.stack([torch.logsumexp(-energy(m, items + [q], levels + [k], known, H_STATES), 0) for k in range(K)])
    torch.testing.assert_close(proba, torch.softmax(joint, 0))


@pytest.mark.parametrize("conditional", [False, True])
def test_the_case_rbm_is_the_engine_rbm_of_the_same_energy(conditional):
    m = tiny_model(conditional, seed=5)
    items, levels, known = [4, 1], [0, 2], [4, 1, 3]
    rbm = m.case_rbm(torch.tensor(items), torch.tensor(known))
    v = torch.nn.functional.one_hot(torch.tensor(levels), K).to(DT).reshape(1, -1)
    f_brute = -torch.logsumexp(-energy(m, items, levels, known, H_STATES), 0)
    torch.testing.assert_close(rbm.free_energy(v)[0], f_brute)


@pytest.mark.parametrize("conditional", [False, True])
def test_cd_statistics_of_one_case_equal_the_engine_rbms(conditional):
    m = tiny_model(conditional, seed=7)
    items, levels, known = [3, 0, 2], [1, 1, 0], [3, 0, 2, 1]
    _, batch = one_case(items, levels, known)
    cfg = TrainConfig(k=3, mean_visible=True)
    ours, figures = m.gradient(batch, cfg, state={}, generator=torch.Generator().manual_seed(11))
    rbm = m.case_rbm(torch.tensor(items), torch.tensor(known))
    v = torch.nn.functional.one_hot(torch.tensor(levels), K).to(DT).reshape(1, -1)
    theirs = rbm.contrastive_divergence(v, k=3, generator=torch.Generator().manual_seed(11), mean_visible=True)
    torch.testing.assert_close(ours["weight"].view(N_ITEMS, K, H)[items].reshape(-1, H), theirs.grads["weight"])
    torch.testing.assert_close(ours["visible_bias"].view(N_ITEMS, K)[items].reshape(-1), theirs.grads["visible_bias"])
    torch.testing.assert_close(ours["hidden_bias"], theirs.grads["hidden_bias"])
    torch.testing.assert_close(figures["recon_error"], theirs.recon_error)
    unrated = [i for i in range(N_ITEMS) if i not in items]
    assert not ours["weight"].view(N_ITEMS, K, H)[unrated].any()
    if conditional:  # D_i moves like the hidden bias for every item of C, and not at all outside it
        for i in range(N_ITEMS):
            expected = theirs.grads["hidden_bias"] if i in known else torch.zeros(H, dtype=DT)
            torch.testing.assert_close(ours["implicit_weight"][i], expected)


def test_a_batch_of_cases_averages_the_per_case_statistics():
    """With the draws shared out as in data-parallel training (ShardedGenerator), a batch's directions are
    the mean of each case's own."""
    m = tiny_model(True, seed=2)
    case = torch.tensor([0, 0, 1, 1, 1, 2])
    data = RatingData(3, case, torch.tensor([0, 4, 1, 2, 4, 3]), torch.tensor([2, 0, 1, 1, 2, 0]),
                      known_case=torch.tensor([0, 2]), known_item=torch.tensor([3, 1]))
    cfg = TrainConfig(k=1)
    idx = torch.tensor([2, 0, 1])
    whole, _ = m.gradient(data.batch(idx), cfg, state={}, generator=torch.Generator().manual_seed(4))
    parts = [
        m.gradient(data.batch(idx[r : r + 1]), cfg, state={},
                   generator=ShardedGenerator(torch.Generator().manual_seed(4), r, r + 1, 3))[0]
        for r in range(3)
    ]
    for name, d in whole.items():
        torch.testing.assert_close(d, sum(p[name] for p in parts) / 3)


def test_rating_data_batches_hold_each_cases_ratings_and_known_items():
    case = torch.tensor([2, 0, 2, 1, 2])
    item = torch.tensor([5, 1, 0, 3, 2])
    level = torch.tensor([0, 1, 2, 3, 4])
    data = RatingData(4, case, item, level, known_case=torch.tensor([0, 3, 2]), known_item=torch.tensor([1, 6, 7]))
    idx, row, it, lv, c_row, c_item = data.batch(torch.tensor([2, 3, 0]))
    got = sorted(zip(idx[row].tolist(), it.tolist(), lv.tolist()))
    assert got == sorted([(2, 5, 0), (0, 1, 1), (2, 0, 2), (2, 2, 4)])
    assert sorted(zip(idx[c_row].tolist(), c_item.tolist())) == [(0, 1), (2, 0), (2, 2), (2, 5), (2, 7), (3, 6)]
    more = data.with_known(torch.tensor([1, 1]), torch.tensor([3, 9]))
    _, _, _, _, c_row, c_item = more.batch(torch.tensor([1]))
    assert c_item.tolist() == [3, 9] and data.batch(torch.tensor([1]))[5].tolist() == [3]


def test_rating_rbm_checkpoint_round_trip(tmp_path):
    m = tiny_model(True).float()
    path = crbm.save_checkpoint(tmp_path / "cf.safetensors", m)
    back = crbm.load_model(path)
    assert isinstance(back, RatingRBM) and back.config() == m.config()
    for (name, a), (_, b) in zip(m.state_dict().items(), back.state_dict().items()):
        torch.testing.assert_close(a, b, msg=name)


# ------------------------------------------------------------------------------------------ baselines
def test_bias_terms_follow_their_closed_form():
    user, item = torch.tensor([0, 0, 1, 2, 2]), torch.tensor([0, 1, 1, 0, 2])
    rating = torch.tensor([5.0, 3.0, 4.0, 1.0, 2.0], dtype=DT)
    mu = float(rating.mean())
    b_u, b_i = bias_terms(user, item, rating, 3, 3, mean=mu, reg_item=2.0, reg_user=1.0)
    expect_i = [((5 - mu) + (1 - mu)) / 4, ((3 - mu) + (4 - mu)) / 4, (2 - mu) / 3]
    torch.testing.assert_close(b_i, torch.tensor(expect_i, dtype=DT))
    expect_u0 = ((5 - mu - expect_i[0]) + (3 - mu - expect_i[1])) / 3
    torch.testing.assert_close(b_u[0], torch.tensor(expect_u0, dtype=DT))


def test_biased_mf_directions_are_minus_the_gradient_of_the_penalised_squared_error():
    m = BiasedMF(4, 3, 2, mean=3.0, reg=0.3, dtype=DT, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        m.user_bias.normal_(generator=torch.Generator().manual_seed(1))
    user, item = torch.tensor([0, 3, 3, 1]), torch.tensor([2, 0, 2, 2])
    rating = torch.tensor([4.0, 1.0, 5.0, 2.0], dtype=DT)
    directions, _ = m.gradient((user, item, rating), TrainConfig(), state={}, generator=None)
    params = dict(m.named_parameters())
    loss = 0.5 * (rating - m(user, item)).square().sum() + 0.5 * m.reg * (
        m.user_factors[user].square().sum() + m.item_factors[item].square().sum()
        + m.user_bias[user].square().sum() + m.item_bias[item].square().sum())
    grads = torch.autograd.grad(loss, list(params.values()))
    for (name, _), g in zip(params.items(), grads):
        torch.testing.assert_close(directions[name], -g, msg=name)


def test_svd_predictions_are_the_baseline_plus_the_dense_rank_k_reconstruction():
    g = np.random.default_rng(0)
    rows = [(u, i, float(g.integers(1, 6))) for u in range(8) for i in range(6) if g.random() < 0.6]
    table = pd.DataFrame(rows, columns=["user", "item", "rating"])
    svd = SVDRecommender(2, reg_item=1.0, reg_user=2.0).fit(table)
    base = BiasRecommender(reg_item=1.0, reg_user=2.0).fit(table)
    resid = np.zeros((8, 6))
    for (u, i, r), b in zip(rows, base.predict(table)):
        resid[svd.index.users.get_loc(u), svd.index.items.get_loc(i)] = r - b
    left, s, right = np.linalg.svd(resid)
    low = (left[:, :2] * s[:2]) @ right[:2]
    pairs = pd.DataFrame([(u, i) for u in range(8) for i in range(6)], columns=["user", "item"])
    expected = base.predict(pairs) + [low[svd.index.users.get_loc(u), svd.index.items.get_loc(i)]
                                      for u, i in zip(pairs.user, pairs.item)]
    np.testing.assert_allclose(svd.predict(pairs), np.clip(expected, 1, 5), atol=1e-9)


# ------------------------------------------------------------------------------------------ fit / predict
def synthetic_ratings(n_users=60, n_items=40, seed=0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Ratings 1-5 from two user tastes over two item kinds, 50 % observed; (train, test) 85 / 15."""
    g = np.random.default_rng(seed)
    taste, kind = g.integers(0, 2, n_users), g.integers(0, 2, n_items)
    rows = []
    for u in range(n_users):
        for i in range(n_items):
            if g.random() < 0.5:
                r = 5 if taste[u] == kind[i] else 1
                rows.append((f"u{u}", 100 + i, float(np.clip(r + g.integers(-1, 2), 1, 5))))
    df = pd.DataFrame(rows, columns=["user", "item", "rating"])
    test = g.random(len(df)) < 0.15
    return df[~test].reset_index(drop=True), df[test].reset_index(drop=True)


@pytest.mark.parametrize("conditional", [False, True])
def test_rbm_recommender_learns_tastes_and_predicts_the_models_expectation(conditional):
    train, test = synthetic_ratings()
    cfg = TrainConfig(epochs=30, batch_size=10, learning_rate=0.1, verbose=False, seed=1)
    rec = RBMRecommender(8, conditional=conditional, config=cfg, stages=[(20, 1), (10, 3)])
    rec.fit(train, known=test[["user", "item"]])
    mean = BiasRecommender(biases=False).fit(train)
    assert rec.rmse(test) < 0.6 * mean.rmse(test)
    pred = rec.predict(test)
    u, i = rec.index.codes(test)
    data = rec.data.with_known(u, i) if conditional else rec.data
    expected = rec.model.predict_proba(data, u, i).double().numpy() @ rec.index.levels
    np.testing.assert_allclose(pred, expected)


def test_item_based_rbm_and_mf_learn_the_synthetic_tastes():
    train, test = synthetic_ratings(seed=1)
    mean = BiasRecommender(biases=False).fit(train).rmse(test)
    cfg = TrainConfig(epochs=30, batch_size=10, learning_rate=0.1, verbose=False)
    assert RBMRecommender(8, by="item", config=cfg).fit(train).rmse(test) < 0.6 * mean
    mf_cfg = TrainConfig(epochs=40, batch_size=20, learning_rate=0.01, momentum=0.9, verbose=False)
    assert MFRecommender(4, reg=0.05, config=mf_cfg).fit(train).rmse(test) < 0.6 * mean


def test_unknown_users_and_items_get_the_fallbacks():
    train = pd.DataFrame({"user": [1, 1, 2, 2], "item": [10, 11, 10, 11], "rating": [5.0, 4.0, 2.0, 1.0]})
    pairs = pd.DataFrame({"user": [9, 1], "item": [10, 99]})
    rbm = RBMRecommender(2, config=TrainConfig(epochs=1, batch_size=2, verbose=False)).fit(train)
    assert rbm.predict(pairs).tolist() == [3.0, 3.0]
    base = BiasRecommender(reg_item=0.0, reg_user=0.0).fit(train)
    np.testing.assert_allclose(base.predict(pairs), [3.0 + 0.5, 3.0 + 1.5])


def test_recommenders_read_parquet_and_refuse_bad_tables(tmp_path):
    train, test = synthetic_ratings()
    path = tmp_path / "r.parquet"
    train.to_parquet(path)
    a = BiasRecommender().fit(path).predict(test)
    b = BiasRecommender().fit(train).predict(test)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(CRBMError, match=r"ratings: missing column\(s\) \['rating'\]"):
        BiasRecommender().fit(train[["user", "item"]])
    with pytest.raises(CRBMError, match="row 1 has rating nan; expected a finite number"):
        BiasRecommender().fit(pd.DataFrame({"user": [1, 2], "item": [1, 2], "rating": [3.0, np.nan]}))
    with pytest.raises(CRBMError, match="call fit before predict"):
        BiasRecommender().predict(test)
    with pytest.raises(CRBMError, match="by must be one of"):
        RBMRecommender(by="movie")
    with pytest.raises(CRBMError, match=r"stages: expected \(epochs, k\) pairs"):
        RBMRecommender(stages=[(3, 0)])


def test_rating_levels_are_the_training_values_in_order():
    train = pd.DataFrame({"user": [1, 1, 2, 2, 3], "item": [7, 8, 7, 8, 7], "rating": [4.5, 0.5, 1.0, 4.5, 0.5]})
    rec = RBMRecommender(2, config=TrainConfig(epochs=2, batch_size=1, verbose=False)).fit(train)
    assert rec.index.levels.tolist() == [0.5, 1.0, 4.5] and rec.model.n_levels == 3
    assert rec.index.level_codes(train).tolist() == [2, 0, 1, 2, 0]
    u, i = rec.index.codes(train)
    proba = rec.model.predict_proba(rec.data, u, i).double().numpy()
    np.testing.assert_allclose(rec.predict(train), proba @ np.array([0.5, 1.0, 4.5]))
    with pytest.raises(CRBMError, match="every rating is 3; the RBM needs at least two rating values"):
        RBMRecommender(2).fit(train.assign(rating=3.0))


def test_training_resumes_bit_identically_from_a_trainer_checkpoint(tmp_path):
    """RatingData goes through the trainer's checkpoint and resume like any in-memory data."""
    g = torch.Generator().manual_seed(0)
    case = torch.randint(0, 12, (80,), generator=g)
    data = RatingData(12, case, torch.randint(0, N_ITEMS, (80,), generator=g), torch.randint(0, K, (80,), generator=g))
    base = dict(batch_size=5, learning_rate=0.1, verbose=False, device="cpu", checkpoint=str(tmp_path / "cf.ck"))

    def model() -> RatingRBM:
        return RatingRBM(N_ITEMS, K, 4, conditional=True, generator=torch.Generator().manual_seed(1))

    straight = model()
    crbm.fit(straight, data, TrainConfig(epochs=3, **{**base, "checkpoint": None}))
    first = model()
    crbm.fit(first, data, TrainConfig(epochs=1, **base))
    resumed = model()
    crbm.fit(resumed, data, TrainConfig(epochs=3, **base), resume=tmp_path / "cf.ck")
    for (name, a), (_, b) in zip(straight.named_parameters(), resumed.named_parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
