"""In-processing mitigation: the exponentiated gradient reduction (Agarwal et al., 2018), as
fairlearn's ``ExponentiatedGradient``, wrapping the training of nncore models.

Fair classification is a saddle point of the Lagrangian ``L(Q, lambda) = err(Q) +
lambda . (gamma(Q) - eps)`` over randomised classifiers ``Q`` (mixtures of trained models) and
multipliers ``lambda >= 0`` with ``|lambda|_1 <= B = 1 / eps``. The lambda player runs
exponentiated gradient on the constraint violations; the Q player's best response to a
``lambda`` is an ordinary weighted classification problem (labels ``cost < 0``, sample
weights ``|cost|``), solved by training a fresh model (``NNClassifier``: an nncore module
trained by ``nncore.train.fit`` with per-sample loss weights). Each step may also solve the
small linear program over the models found so far (``run_linprog_step``, needs SciPy). The
result predicts with model ``t`` with probability ``weights_[t]``.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import numpy as np

from nncore.fairness._common import as_numpy, binary_labels, check_random_state, sample_weights
from nncore.fairness.moments import MOMENTS, ErrorRate, UtilityParity

__all__ = ["ExponentiatedGradient", "NNClassifier"]

_PRECISION = 1e-8
_ACCURACY_MUL = 0.5
_REGRET_CHECK_START_T, _REGRET_CHECK_INCREASE_T = 5, 1.6
_SHRINK_REGRET, _SHRINK_ETA = 0.8, 0.8
_MIN_ITER = 5


class NNClassifier:
    """A binary classifier with scikit-learn's ``fit``/``predict`` around an nncore model.

    Args:
        module_fn: ``() -> nn.Module`` mapping inputs ``(N, d)`` to one logit ``(N,)`` or
            ``(N, 1)``; called afresh (after ``nncore.manual_seed(seed)``) by every ``fit``.
        epochs: passes over the data. lr: Adam's learning rate.
        batch_size: None for full-batch training.
        weight_decay: Adam's weight decay.
        seed: seeds the initialisation and the batch order, so a fit is reproducible.

    Attributes:
        model_: the trained module after ``fit``.
    """

    def __init__(self, module_fn: Callable[[], Any], *, epochs: int = 100, lr: float = 0.05,
                 batch_size: int | None = None, weight_decay: float = 0.0, seed: int = 0
                 ) -> None:
        if not callable(module_fn):
            raise TypeError(f"NNClassifier: module_fn must be callable, got "
                            f"{type(module_fn).__name__}")
        if not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"NNClassifier: epochs must be a positive int, got {epochs!r}")
        self.module_fn, self.epochs, self.lr = module_fn, epochs, lr
        self.batch_size, self.weight_decay, self.seed = batch_size, weight_decay, seed
        self.model_: Any = None

    def clone(self) -> NNClassifier:
        """An unfitted copy with the same settings."""
        return NNClassifier(self.module_fn, epochs=self.epochs, lr=self.lr,
                            batch_size=self.batch_size, weight_decay=self.weight_decay,
                            seed=self.seed)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> NNClassifier:
        """Train a fresh model on ``(X, y)``, each sample's loss times its weight."""
        import nncore
        from nncore import nn, optim
        from nncore.train import fit
        from nncore.utils.data import DataLoader, TensorDataset

        x = np.asarray(as_numpy(X))
        labels = binary_labels("NNClassifier.fit", y, len(x))
        w = sample_weights("NNClassifier.fit", sample_weight, len(x))
        w = np.ones(len(x)) if w is None else w * (len(x) / w.sum())
        nncore.manual_seed(self.seed)
        self.model_ = self.module_fn()
        dtype = _param_dtype(self.model_)
        data = TensorDataset(nncore.from_numpy(np.ascontiguousarray(x, dtype=dtype)),
                             nncore.from_numpy(labels.astype(dtype)),
                             nncore.from_numpy(w.astype(dtype)))
        gen = nncore.Generator().manual_seed(self.seed)
        loader = DataLoader(data, batch_size=self.batch_size or len(x), shuffle=True,
                            generator=gen)
        opt = optim.Adam(self.model_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        loss = _FlatBCE(nn.BCEWithLogitsLoss(reduction="none"))
        fit(self.model_, loss, opt, loader, epochs=self.epochs, metrics=[], progress=False)
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """The model's logit per sample ``(N,)``."""
        from nncore.autograd import no_grad
        from nncore.tensor import Tensor

        if self.model_ is None:
            raise RuntimeError("NNClassifier: call fit before predicting")
        x = np.asarray(as_numpy(X))
        dtype = _param_dtype(self.model_)
        self.model_.eval()
        with no_grad():
            out = as_numpy(self.model_(Tensor._wrap(np.ascontiguousarray(x, dtype=dtype))))
        return out.reshape(len(x), -1)[:, 0].astype(np.float64)

    def predict(self, X: Any) -> np.ndarray:
        """0/1 predictions ``(N,)``: ``logit > 0``."""
        return (self.decision_function(X) > 0).astype(np.int64)


def _param_dtype(model: Any) -> np.dtype:
    """The floating dtype of the model's first parameter (float32 when it has none)."""
    for p in model.parameters():
        return np.dtype(p._array.dtype)
    return np.dtype(np.float32)


class _FlatBCE:
    """BCE-with-logits on a ``(N,)`` or ``(N, 1)`` logit against ``(N,)`` targets."""

    def __init__(self, loss: Any) -> None:
        self.loss = loss

    def __call__(self, out: Any, y: Any) -> Any:
        return self.loss(out.reshape(-1), y)

    def __repr__(self) -> str:
        return f"{self.loss!r} (per-sample weighted)"


class _Constant:
    def __init__(self, value: int) -> None:
        self.value = value

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(as_numpy(X)), self.value, dtype=np.int64)


class _Lagrangian:
    """The hypotheses found so far, their errors and constraint values, and the best
    response and duality gap computations."""

    def __init__(self, X: Any, y: np.ndarray, estimator: Any, constraints: UtilityParity,
                 B: float) -> None:
        self.X, self.y, self.estimator, self.constraints, self.B = X, y, estimator, constraints, B
        self.obj = ErrorRate()
        self.obj.load_data(y)
        self.predictors: list[Any] = []
        self.errors: list[float] = []
        self.gammas: list[np.ndarray] = []
        self.n_oracle_calls = 0
        self._lp: tuple[int, Any] | None = None

    def _oracle(self, lam: np.ndarray) -> Any:
        signed = self.obj.signed_weights() + self.constraints.signed_weights(lam)
        red_y = (signed > 0).astype(np.int64)
        red_w = np.abs(signed)
        red_w = len(self.y) * red_w / red_w.sum()
        self.n_oracle_calls += 1
        if red_y.min() == red_y.max():
            return _Constant(int(red_y[0]))
        est = self.estimator.clone() if hasattr(self.estimator, "clone") else \
            copy.deepcopy(self.estimator)
        est.fit(self.X, red_y, sample_weight=red_w)
        return est

    def best_h(self, lam: np.ndarray) -> int:
        """Index of the best response to ``lam`` (a new model, or an older one as good)."""
        clf = self._oracle(lam)
        pred = np.asarray(clf.predict(self.X), dtype=np.float64).reshape(-1)
        err, gam = self.obj.gamma(pred), self.constraints.gamma(pred)
        value = err + gam @ lam
        best, best_value = -1, np.inf
        if self.predictors:
            values = np.array(self.errors) + np.stack(self.gammas) @ lam
            best = int(np.argmin(values))
            best_value = values[best]
        if value < best_value - _PRECISION:
            self.predictors.append(clf)
            self.errors.append(err)
            self.gammas.append(gam)
            best = len(self.predictors) - 1
        return best

    def evaluate(self, Q: np.ndarray, lam: np.ndarray) -> tuple[float, float, np.ndarray, float]:
        """(L, L_high, gamma, error) of the mixture ``Q`` (weights over the hypotheses)."""
        q = np.zeros(len(self.predictors))
        q[:len(Q)] = Q
        error = float(np.array(self.errors) @ q)
        gamma = np.stack(self.gammas, 1) @ q
        lam = self.constraints.project_lambda(lam)
        excess = gamma - self.constraints.bound()
        L = error + float(lam @ excess)
        return L, error + self.B * max(float(excess.max()), 0.0), gamma, error

    def gap(self, Q: np.ndarray, lam: np.ndarray, nu: float) -> tuple[float, np.ndarray, float]:
        """(duality gap, gamma, error) of ``Q`` against ``lam``."""
        L, L_high, gamma, error = self.evaluate(Q, lam)
        L_low = L
        for mul in (1.0, 2.0, 5.0, 10.0):
            h = self.best_h(mul * lam)
            onehot = np.zeros(h + 1)
            onehot[h] = 1.0
            L_low = min(L_low, self.evaluate(onehot, lam)[0])
            if max(L - L_low, L_high - L) > nu + _PRECISION:
                break
        return max(L - L_low, L_high - L), gamma, error

    def linprog(self, nu: float) -> tuple[np.ndarray, float]:
        """The best mixture of the hypotheses so far (the LP) and its gap."""
        if self._lp is not None and self._lp[0] == len(self.predictors):
            return self._lp[1]
        try:
            from scipy.optimize import linprog
        except ImportError:
            raise ImportError("ExponentiatedGradient: run_linprog_step=True needs SciPy; "
                              "install scipy or pass run_linprog_step=False") from None
        h, k = len(self.predictors), len(self.constraints.index)
        G = np.stack(self.gammas, 1) - self.constraints.bound()[:, None]
        c = np.append(self.errors, self.B)
        A_ub = np.hstack([G, -np.ones((k, 1))])
        A_eq = np.append(np.ones(h), 0.0)[None, :]
        primal = linprog(c, A_ub=A_ub, b_ub=np.zeros(k), A_eq=A_eq, b_eq=np.ones(1),
                         method="highs-ds")
        dual = linprog(np.append(np.zeros(k), -1.0), A_ub=np.hstack([-A_ub.T, A_eq.T]), b_ub=c,
                       bounds=[(0, None)] * k + [(None, None)], method="highs-ds")
        Q, lam = primal.x[:-1], dual.x[:-1]
        result = (Q, self.gap(Q, lam, nu)[0])
        self._lp = (h, result)
        return result


class ExponentiatedGradient:
    """A randomised classifier meeting a fairness constraint, by exponentiated gradient.

    Args:
        estimator: an object with ``fit(X, y, sample_weight=...)`` and ``predict(X)``:
            ``NNClassifier`` for an nncore model (any scikit-learn classifier works too).
            It is cloned (``clone()`` or a deep copy) for every best response.
        constraints: ``"demographic_parity"``, ``"equalized_odds"``, ``"equal_opportunity"``
            (true positive rate parity), ``"false_positive_rate_parity"``, or a
            ``moments.UtilityParity`` instance (with its ``difference_bound``).
        objective: None or ``moments.ErrorRate()`` (the only objective supported).
        eps: bound of ``|lambda|_1`` is ``1 / eps``.
        max_iter: iterations at most. nu: convergence threshold on the duality gap (None:
            from the first model's error spread, as fairlearn). eta0: initial step size.
        run_linprog_step: also solve the LP over the models found so far at every step.
        sample_weight_name: must be ``"sample_weight"``.

    Attributes (after ``fit``):
        predictors_: the trained models. weights_: their mixture weights ``(T,)``.
        best_gap_, best_iter_, last_iter_, n_oracle_calls_.
    """

    def __init__(self, estimator: Any, constraints: str | UtilityParity, *,
                 objective: Any = None, eps: float = 0.01, max_iter: int = 50,
                 nu: float | None = None, eta0: float = 2.0, run_linprog_step: bool = True,
                 sample_weight_name: str = "sample_weight") -> None:
        op = "ExponentiatedGradient"
        if objective is not None and not isinstance(objective, ErrorRate):
            raise NotImplementedError(f"{op}: only the error rate objective is supported, got "
                                      f"{type(objective).__name__}")
        if sample_weight_name != "sample_weight":
            raise NotImplementedError(f"{op}: the estimator's fit must take sample_weight "
                                      f"(sample_weight_name={sample_weight_name!r} is not "
                                      f"supported)")
        if not (callable(getattr(estimator, "fit", None)) and
                callable(getattr(estimator, "predict", None))):
            raise TypeError(f"{op}: estimator needs fit(X, y, sample_weight) and predict(X), "
                            f"got {type(estimator).__name__}")
        if isinstance(constraints, str):
            if constraints not in MOMENTS:
                raise ValueError(f"{op}: constraints must be one of {sorted(MOMENTS)} or a "
                                 f"UtilityParity, got {constraints!r}")
        elif not isinstance(constraints, UtilityParity):
            raise TypeError(f"{op}: constraints must be a name or a UtilityParity, got "
                            f"{type(constraints).__name__}")
        if not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f"{op}: eps must be positive, got {eps!r}")
        if not isinstance(max_iter, int) or max_iter < 1:
            raise ValueError(f"{op}: max_iter must be a positive int, got {max_iter!r}")
        self.estimator, self.constraints, self.eps = estimator, constraints, float(eps)
        self.max_iter, self.nu, self.eta0 = max_iter, nu, float(eta0)
        self.run_linprog_step = bool(run_linprog_step)
        self.predictors_: list[Any] | None = None
        self.weights_: np.ndarray | None = None

    def fit(self, X: Any, y: Any, *, sensitive_features: Any) -> ExponentiatedGradient:
        """Train the mixture on ``(X, y)`` under the constraint between the groups.

        Raises:
            ValueError: non-binary labels, wrong-length or single-group sensitive features.
        """
        labels = binary_labels("ExponentiatedGradient.fit", y, len(as_numpy(X)))
        moment = MOMENTS[self.constraints]() if isinstance(self.constraints, str) else \
            copy.deepcopy(self.constraints)
        moment.load_data(labels, sensitive_features)
        B = 1.0 / self.eps
        lag = _Lagrangian(X, labels.astype(np.float64), self.estimator, moment, B)
        theta = np.zeros(len(moment.index))
        q_sum: dict[int, float] = {}
        gaps_eg: list[float] = []
        gaps: list[float] = []
        Qs: list[np.ndarray] = []
        lam_sum = np.zeros_like(theta)
        nu, eta = self.nu, self.eta0 / B
        last_checked, last_gap = _REGRET_CHECK_START_T, np.inf
        for t in range(self.max_iter):
            lam = B * np.exp(theta) / (1 + np.exp(theta).sum())
            lam_sum += lam
            h = lag.best_h(lam)
            if t == 0 and nu is None:
                pred = np.asarray(lag.predictors[h].predict(X), dtype=np.float64)
                nu = _ACCURACY_MUL * np.abs(pred - labels).std(ddof=1) / np.sqrt(len(labels))
            q_sum[h] = q_sum.get(h, 0.0) + 1.0
            q_eg = np.zeros(max(q_sum) + 1)
            for i, v in q_sum.items():
                q_eg[i] = v
            q_eg /= q_eg.sum()
            gap_eg = lag.gap(q_eg, lam_sum / (t + 1), nu)[0]
            gaps_eg.append(gap_eg)
            q_lp, gap_lp = (None, np.inf) if t == 0 or not self.run_linprog_step else \
                lag.linprog(nu)
            Qs.append(q_eg if gap_eg < gap_lp else q_lp)
            gaps.append(min(gap_eg, gap_lp))
            if gaps[t] < nu and t >= _MIN_ITER:
                break
            if t >= last_checked * _REGRET_CHECK_INCREASE_T:
                best_gap = min(gaps_eg)
                if best_gap > last_gap * _SHRINK_REGRET:
                    eta *= _SHRINK_ETA
                last_checked, last_gap = t, best_gap
            theta += eta * (lag.gammas[h] - moment.bound())
        gaps_arr = np.array(gaps)
        self.best_iter_ = int(np.flatnonzero(gaps_arr <= gaps_arr.min() + _PRECISION)[-1])
        self.best_gap_ = float(gaps[self.best_iter_])
        weights = np.zeros(len(lag.predictors))
        weights[:len(Qs[self.best_iter_])] = Qs[self.best_iter_]
        self.weights_, self.predictors_ = weights, lag.predictors
        self.last_iter_, self.n_oracle_calls_, self.nu_ = len(Qs) - 1, lag.n_oracle_calls, nu
        self.moment_ = moment
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probability of a positive prediction per sample ``(N,)``: the weighted vote."""
        if self.weights_ is None:
            raise RuntimeError("ExponentiatedGradient: call fit before predicting")
        out = np.zeros(len(as_numpy(X)))
        for w, clf in zip(self.weights_, self.predictors_):
            if w > 0:
                out += w * np.asarray(clf.predict(X), dtype=np.float64).reshape(-1)
        return out

    def predict(self, X: Any, random_state: Any = None) -> np.ndarray:
        """Randomised 0/1 predictions (an int seed gives fairlearn's draws)."""
        prob = self.predict_proba(X)
        rng = check_random_state("ExponentiatedGradient.predict", random_state)
        return (prob >= rng.rand(len(prob))).astype(np.int64)
