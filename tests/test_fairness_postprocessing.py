"""ThresholdOptimizer against fairlearn on the same scores, end to end on nncore models, saved
with the model; the audit trail in fit's run directory, the model card and the report."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import nncore
from fairness_data import DATASETS, module_fn, tensors
from nncore import fairness, nn, optim
from nncore.fairness import MitigationAudit, NNClassifier, ThresholdOptimizer, reweighing
from nncore.train import fit
from nncore.utils.data import DataLoader, TensorDataset
from test_fairness_mitigation import _baseline, check_cut

CONSTRAINTS = ["demographic_parity", "true_positive_rate_parity", "equalized_odds",
               "false_negative_rate_parity"]


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def _scores(seed: int, ties: bool):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 3, 400)
    y = (rng.random(400) < 0.3 + 0.1 * a).astype(np.int64)
    s = rng.normal(y + 0.4 * a, 1.0)
    return (np.round(s, 1) if ties else s), y, a


@pytest.mark.parametrize("constraint", CONSTRAINTS)
@pytest.mark.parametrize("flip,ties", [(False, False), (True, True)])
def test_threshold_optimizer_matches_fairlearn_on_the_same_scores(constraint, flip, ties):
    post = pytest.importorskip("fairlearn.postprocessing")
    from sklearn.base import BaseEstimator, ClassifierMixin

    class Scores(ClassifierMixin, BaseEstimator):
        def fit(self, X, y):
            self.fitted_ = True
            return self

        def decision_function(self, X):
            return np.asarray(X)[:, 0]

    s, y, a = _scores(len(constraint) + flip, ties)
    X = s.reshape(-1, 1)
    ref = post.ThresholdOptimizer(estimator=Scores().fit(X, y), constraints=constraint,
                                  prefit=True, predict_method="decision_function", flip=flip)
    _quiet(ref.fit, X, y, sensitive_features=a)
    ours = ThresholdOptimizer(constraints=constraint, flip=flip).fit(s, y, sensitive_features=a)
    np.testing.assert_allclose(ours.predict_proba(s, sensitive_features=a),
                               _quiet(ref._pmf_predict, X, sensitive_features=a)[:, 1],
                               atol=1e-12)
    np.testing.assert_array_equal(ours.predict(s, sensitive_features=a, random_state=7),
                                  _quiet(ref.predict, X, sensitive_features=a, random_state=7))
    # Randomised thresholds: some samples get a probability strictly between 0 and 1.
    if constraint == "equalized_odds":
        p = ours.predict_proba(s, sensitive_features=a)
        assert ((p > 0) & (p < 1)).any()


@pytest.mark.parametrize("name", ["synthetic", "cancer"])
@pytest.mark.parametrize("constraint", ["demographic_parity", "equal_opportunity",
                                        "equalized_odds"])
def test_threshold_optimizer_on_an_nncore_model_cuts_its_gap(name, constraint):
    _, (xv, yv, av), (xs, ys, a_s) = DATASETS[name]()
    model = _baseline(name).model_
    to = ThresholdOptimizer(model, constraints=constraint).fit(xv, yv, sensitive_features=av)
    after = to.predict(xs, sensitive_features=a_s, random_state=0)
    check_cut(name, constraint, after, max_cost=0.12, include_val=False)


def test_threshold_optimizer_is_saved_with_the_model(tmp_path):
    _, (xv, yv, av), (xs, _, a_s) = DATASETS["synthetic"]()
    model = _baseline("synthetic").model_
    to = ThresholdOptimizer(model, constraints="equalized_odds").fit(
        xv, yv, sensitive_features=av)
    expected = to.predict_proba(xs, sensitive_features=a_s)
    nncore.save(to.state_dict(), tmp_path / "fair.pt")
    fresh = ThresholdOptimizer(module_fn(4)(), constraints="demographic_parity")
    fresh.load_state_dict(nncore.load(tmp_path / "fair.pt"))   # weights_only: plain data
    assert fresh.constraints == "equalized_odds"
    np.testing.assert_array_equal(fresh.predict_proba(xs, sensitive_features=a_s), expected)
    np.testing.assert_array_equal(fresh(nncore.from_numpy(xs), a_s).numpy(), expected)
    np.testing.assert_array_equal(
        fresh.predict(xs, sensitive_features=a_s, random_state=1),
        to.predict(xs, sensitive_features=a_s, random_state=1))
    # The whole module round-trips too (its class allow-listed, as PyTorch's safe globals).
    nncore.save(to, tmp_path / "whole.pt")
    with nncore.serialization.safe_globals([ThresholdOptimizer, nn.Sequential, nn.Linear,
                                            nn.ReLU]):
        whole = nncore.load(tmp_path / "whole.pt")
    np.testing.assert_array_equal(whole.predict_proba(xs, sensitive_features=a_s), expected)


def test_threshold_optimizer_bad_input():
    s, y, a = _scores(0, False)
    to = ThresholdOptimizer()
    with pytest.raises(RuntimeError, match="not fitted"):
        to.predict(s, sensitive_features=a)
    with pytest.raises(ValueError, match="sensitive_features has 399 entries but there are 400"):
        to.fit(s, y, sensitive_features=a[:-1])
    with pytest.raises(ValueError, match="only one group"):
        to.fit(s, y, sensitive_features=np.zeros(400))
    with pytest.raises(ValueError, match="group 1 has only label 0"):
        to.fit(s, np.where(a == 1, 0, y), sensitive_features=a)
    with pytest.raises(ValueError, match="binary labels"):
        to.fit(s, y + 1, sensitive_features=a)
    with pytest.raises(ValueError, match="NaN or infinite"):
        to.fit(np.where(a == 0, np.nan, s), y, sensitive_features=a)
    with pytest.raises(ValueError, match="constraints must be"):
        ThresholdOptimizer(constraints="parity")
    with pytest.raises(ValueError, match="objective for equalized_odds"):
        ThresholdOptimizer(constraints="equalized_odds", objective="selection_rate")
    to.fit(s, y, sensitive_features=a)
    with pytest.raises(ValueError, match="not seen in fit"):
        to.predict(s, sensitive_features=a + 1)
    with pytest.raises(ValueError, match="sensitive_features has 3 entries but there are 400"):
        to.predict(s, sensitive_features=a[:3])


# ---- the audit trail ----
def test_fit_records_the_mitigation_and_the_report_shows_it(tmp_path):
    from nncore import report
    from nncore.train import runs

    (xt, yt, at), (xv, yv, av), _ = DATASETS["synthetic"]()
    base = _baseline("synthetic")
    audit = MitigationAudit("reweighing", xv, yv, av, baseline=base.model_,
                            constraint="demographic_parity", params={"via": "loss weights"})
    nncore.manual_seed(0)
    model = module_fn(4)()
    data = TensorDataset(*tensors(xt, yt.astype(np.float32),
                                  reweighing(yt, at).astype(np.float32)))
    bce = nn.BCEWithLogitsLoss(reduction="none")
    history = fit(model, lambda o, t: bce(o.reshape(-1), t),
                  optim.Adam(model.parameters(), lr=0.03),
                  DataLoader(data, batch_size=len(yt)), epochs=40, metrics=[], progress=False,
                  run_dir=tmp_path / "run", mitigation=audit)
    rec = json.loads((tmp_path / "run" / "mitigation.json").read_text())
    assert rec == json.loads(json.dumps(history.mitigation))
    assert rec["method"] == "reweighing" and rec["target_metric"] == \
        "demographic_parity_difference"
    assert rec["after"]["demographic_parity_difference"] < \
        0.5 * rec["before"]["demographic_parity_difference"]
    assert rec["accuracy_cost"] == pytest.approx(rec["before"]["accuracy"] -
                                                 rec["after"]["accuracy"])
    assert json.loads((tmp_path / "run" / "hparams.json").read_text())["mitigation"] == \
        "reweighing"
    card = report.model_card(tmp_path / "run", name="fair", mitigation=history.mitigation)
    md = (tmp_path / "run" / "model_card.md").read_text()
    assert card["mitigation"]["method"] == "reweighing"
    assert "## Bias mitigation" in md and "| demographic_parity_difference |" in md
    page = report.build_report(tmp_path / "run").read_text()
    assert "<h2>Bias mitigation</h2>" in page and "accuracy cost" in page
    assert "bias mitigation: reweighing" in runs.show_run(tmp_path / "run")


def test_post_processing_audit_and_bad_audit_input(tmp_path):
    _, (xv, yv, av), (xs, ys, a_s) = DATASETS["cancer"]()
    model = _baseline("cancer").model_
    to = ThresholdOptimizer(model, constraints="equalized_odds").fit(
        xv, yv, sensitive_features=av)
    audit = MitigationAudit("threshold_optimizer", xs, ys, a_s, baseline=model,
                            constraint="equalized_odds", params={"grid_size": 1000})
    rec = audit.evaluate(to.predict(xs, sensitive_features=a_s, random_state=0))
    audit.save(tmp_path)
    assert json.loads((tmp_path / "mitigation.json").read_text())["gap_reduction"][
        "equalized_odds_difference"] == pytest.approx(rec["gap_reduction"][
            "equalized_odds_difference"])
    assert rec["gap_reduction"]["equalized_odds_difference"] >= 0.5
    with pytest.raises(ValueError, match="sensitive_features has 3 entries"):
        MitigationAudit("x", xs, ys, [0, 1, 0], baseline=model)
    with pytest.raises(ValueError, match="only one group"):
        fairness.audit_mitigation("x", ys, ys, ys, np.zeros(len(ys)))
    with pytest.raises(ValueError, match="mitigation must be a record"):
        from nncore import report
        report.model_card(tmp_path, name="m", mitigation={"method": "x"})
    with pytest.raises(TypeError, match="mitigation must be a fairness.MitigationAudit"):
        fit(nn.Linear(2, 1), nn.MSELoss(), optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1),
            [(nncore.zeros(2, 2), nncore.zeros(2, 1))], progress=False, mitigation="reweighing")


def test_nnclassifier_is_reproducible():
    (xt, yt, _), _, _ = DATASETS["synthetic"]()
    a = NNClassifier(module_fn(4), epochs=5).fit(xt, yt).decision_function(xt)
    b = NNClassifier(module_fn(4), epochs=5).fit(xt, yt).decision_function(xt)
    np.testing.assert_array_equal(a, b)


def test_threshold_optimizer_takes_two_class_outputs_and_several_features():
    s, y, a = _scores(3, False)
    sex = (np.arange(400) % 2)
    # A two-class model: softmax([0, s])[1] = sigmoid(s), a monotone map of s.
    two = ThresholdOptimizer(lambda X: np.stack([np.zeros(len(X)), X], 1)).fit(
        s, y, sensitive_features=a)
    direct = ThresholdOptimizer().fit(1 / (1 + np.exp(-s)), y, sensitive_features=a)
    np.testing.assert_allclose(two.predict_proba(s, sensitive_features=a),
                               direct.predict_proba(1 / (1 + np.exp(-s)), sensitive_features=a))
    # Intersections of two features, as a mapping or an (N, 2) array: the same groups.
    both = ThresholdOptimizer(constraints="equalized_odds").fit(
        s, y, sensitive_features={"a": a, "sex": sex})
    np.testing.assert_array_equal(
        both.predict_proba(s, sensitive_features={"a": a, "sex": sex}),
        both.predict_proba(s, sensitive_features=np.stack([a, sex], 1)))
    assert len(both.groups_) == 6


def test_cli_report_shows_the_mitigation(tmp_path, capsys):
    from nncore import cli

    _, _, (xs, ys, a_s) = DATASETS["synthetic"]()
    base = _baseline("synthetic")
    to = ThresholdOptimizer(base.model_).fit(xs, ys, sensitive_features=a_s)
    audit = MitigationAudit("threshold_optimizer", xs, ys, a_s, baseline=base.model_,
                            constraint="demographic_parity")
    audit.evaluate(to.predict(xs, sensitive_features=a_s, random_state=0))
    audit.save(tmp_path)
    assert cli.main(["report", str(tmp_path)]) == 0
    page = (tmp_path / "report.html").read_text()
    assert "Method: threshold_optimizer, constraint demographic_parity" in page
    assert "selection_rate[0]" in page and "selection_rate[1]" in page


def test_unsupported_fairlearn_options_say_so():
    from nncore.fairness import ExponentiatedGradient

    with pytest.raises(NotImplementedError, match="tol"):
        ThresholdOptimizer(tol=0.05)
    with pytest.raises(NotImplementedError, match="prefit=False"):
        ThresholdOptimizer(prefit=False)
    est = NNClassifier(module_fn(4))
    with pytest.raises(NotImplementedError, match="error rate objective"):
        ExponentiatedGradient(est, "demographic_parity", objective=object())
    with pytest.raises(NotImplementedError, match="sample_weight_name"):
        ExponentiatedGradient(est, "demographic_parity", sample_weight_name="w")
