"""The eager floor of the speed benchmarks: one CD-1 epoch of an RBM or a CRBM written as the fewest eager torch
calls, into preallocated buffers, with nothing else.

A batch is: gather the rows (v, and the histories u of a CRBM), the dynamic biases b_t = b + u A^T and
c_t = c + u B^T, p = sigmoid(c_t + v W), h = [noise < p] with crbm's uniforms, the mean reconstruction
v' = mean(b_t + h W^T) (identity for Gaussian visibles, sigmoid for binary ones), p' = sigmoid(c_t + v' W),
then the directions

    dW = (v^T p - v'^T p') / n,  db = mean(v - v'),  dc = mean(p - p'),  dA = (v - v')^T u / n,  dB = (p - p')^T u / n

written into one flat buffer, the reconstruction error (v - v').(v - v'), and the momentum update of every
parameter in three passes over flat buffers: velocity <- mom velocity + lr s d - lr s wd m theta (s: the
parameter's learning-rate scale, m: 1 for the decayed parameters), theta <- theta + velocity.

This is what ``crbm.fit`` computes for these models with ``mean_visible`` CD-1 (the same batches and random
numbers from the same seed, so the same parameters up to rounding: tests/test_eager_step.py), without the
trainer's and the engine's generality (per-model hooks, figures, checks, schedules). Its time is the least
that this computation takes as eager torch calls on the machine; the time above the products alone (the matmul
floor) is the elementwise work and the per-call cost that any eager implementation pays.
"""

from __future__ import annotations

import torch
from torch import Tensor

from crbm.engine.noise import uniform_
from crbm.engine.train import TrainConfig
from crbm.engine.units import Gaussian


class EagerCD1:
    """CD-1 epochs, from a copy of ``model``'s parameters, with ``config``'s batch size, learning rate (and
    ``lr_scale``) and weight decay on ``model.decayed_parameters()``: an ``RBM`` on ``v`` (N, D), or a ``CRBM``
    on frames ``v`` (N, D) and histories ``u`` (N, C). The model's parameters (W (D, H), b (D,), c (H,), and a
    CRBM's A (D, C) and B (H, C)) are copied into one flat buffer: the model itself is not changed."""

    def __init__(self, model: torch.nn.Module, config: TrainConfig, v: Tensor, u: Tensor | None = None) -> None:
        rbm = getattr(model, "rbm", model)  # a CRBM's RBM sits under "rbm."
        prefix = "rbm." if rbm is not model else ""
        names = {"W": prefix + "weight", "b": prefix + "visible_bias", "c": prefix + "hidden_bias"}
        if u is not None:
            names.update(A="A", B="B")
        params = {k: p.detach() for k, p in model.named_parameters()}
        sizes = [p.numel() for p in params.values()]
        self.flat = torch.cat([p.reshape(-1) for p in params.values()])
        self.grad, self.velocity = torch.zeros_like(self.flat), torch.zeros_like(self.flat)
        scale, decay = torch.ones_like(self.flat), torch.zeros_like(self.flat)
        decayed, lr_scale, lr = set(model.decayed_parameters()), config.lr_scale, config.learning_rate
        views = {}
        for (name, p), f, g, s, m in zip(params.items(), self.flat.split(sizes), self.grad.split(sizes),
                                         scale.split(sizes), decay.split(sizes)):
            views[name] = (f.view_as(p), g.view_as(p))
            s.fill_(lr_scale.get(name, 1.0))
            m.fill_(lr_scale.get(name, 1.0) if name in decayed else 0.0)
        self.params = {k: views[n][0] for k, n in names.items()}
        self.grads = {k: views[n][1] for k, n in names.items()}
        self.scale, self.decay = scale * lr, decay * (-lr * config.weight_decay)
        self.v, self.u, self.gaussian, self.batch = v, u, isinstance(rbm.visible, Gaussian), config.batch_size
        d, h = self.params["W"].shape
        kw = {"dtype": v.dtype, "device": v.device}
        self.buf = {k: torch.empty(self.batch, w, **kw)
                    for k, w in (("v", d), ("bt", d), ("vn", d), ("dv", d), ("ct", h), ("p", h), ("pn", h), ("h", h),
                                 ("dh", h))}
        if u is not None:
            self.buf["u"] = torch.empty(self.batch, u.shape[1], **kw)

    def named_parameters(self) -> dict[str, Tensor]:
        """The current W, b, c (and A, B), views into the flat buffer."""
        return self.params

    def epoch(self, generator: torch.Generator, momentum: float) -> Tensor:
        """One pass over the data in the order ``randperm(N, generator)``, the hidden draws from ``generator``
        after it (the trainer's order of draws); returns the summed reconstruction error."""
        P, G, B = self.params, self.grads, self.buf
        v, vn, dv, p, pn, h, dh = B["v"], B["vn"], B["dv"], B["p"], B["pn"], B["h"], B["dh"]
        n_rows = self.v.shape[0]
        order = torch.randperm(n_rows, generator=generator, device=self.v.device)
        err = self.v.new_zeros(())
        for start in range(0, n_rows, self.batch):
            idx = order[start : start + self.batch]
            n = idx.shape[0]
            if n != self.batch:
                v, vn, dv, p, pn, h, dh = (t[:n] for t in (B["v"], B["vn"], B["dv"], B["p"], B["pn"], B["h"],
                                                         B["dh"]))
            torch.index_select(self.v, 0, idx, out=v)
            if self.u is None:
                bt, ct = P["b"], P["c"]
            else:
                u = B["u"][:n]
                torch.index_select(self.u, 0, idx, out=u)
                bt, ct = B["bt"][:n], B["ct"][:n]
                torch.addmm(P["b"], u, P["A"].T, out=bt)
                torch.addmm(P["c"], u, P["B"].T, out=ct)
            torch.sigmoid(torch.addmm(ct, v, P["W"], out=p), out=p)
            torch.lt(uniform_(h, generator), p, out=h)
            torch.addmm(bt, h, P["W"].T, out=vn)
            if not self.gaussian:
                torch.sigmoid(vn, out=vn)
            torch.sigmoid(torch.addmm(ct, vn, P["W"], out=pn), out=pn)
            torch.mm(vn.T, pn, out=G["W"]).addmm_(v.T, p, beta=-1.0 / n, alpha=1.0 / n)
            torch.sub(v, vn, out=dv)
            torch.sub(p, pn, out=dh)
            torch.mean(dv, 0, out=G["b"])
            torch.mean(dh, 0, out=G["c"])
            if self.u is not None:
                torch.addmm(G["A"], dv.T, u, beta=0.0, alpha=1.0 / n, out=G["A"])
                torch.addmm(G["B"], dh.T, u, beta=0.0, alpha=1.0 / n, out=G["B"])
            err += torch.dot(dv.view(-1), dv.view(-1))
            self.velocity.mul_(momentum).addcmul_(self.grad, self.scale).addcmul_(self.flat, self.decay)
            self.flat.add_(self.velocity)
        return err
