"""The classic textbook's two Nesterov codes, written out here as its ``common/optimizer.py``
reads (its classes and its E3 loop, ``optimizer_compare_naive.py``: the bowl f = x²/20 + y²
from (−7, 2), 30 steps), against descentlab.

* ``TextbookNesterov2016``: the code from the repository's first version (2016-07-07, the
  early editions' listing) until 2021-01-18. It updates the velocity first and then applies
  μ² to the *updated* velocity — not Nesterov's rule; descentlab's
  ``Nesterov(lr_in_buffer=True, nesterov_form="textbook")`` reproduces it bit for bit, and the
  E3 figure it drew panel by panel.
* ``TextbookNesterov2021``: the code since the commit "Fix Nesterov update function"
  (2021-01-18): μ² on the velocity *before* its update, which is Nesterov's standard rule in
  velocity form — descentlab's ``Nesterov(lr_in_buffer=True)`` (the default form), equal up to
  rounding (the operations come in another order).
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from descentlab import optim, problems
from descentlab.cli import main
from descentlab.errors import InputError, InputTypeError
from descentlab.lab.race import race
from descentlab.lab.spec import build_optimizer


# ---------------------------------------------------------------- the textbook's code
class TextbookSGD:
    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for key in params.keys():
            params[key] -= self.lr * grads[key]


class TextbookMomentum:
    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum, self.v = lr, momentum, None

    def update(self, params, grads):
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]


class TextbookNesterov2016:
    """common/optimizer.py's Nesterov before 2021-01-18."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum, self.v = lr, momentum, None

    def update(self, params, grads):
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            self.v[key] *= self.momentum
            self.v[key] -= self.lr * grads[key]
            params[key] += self.momentum * self.momentum * self.v[key]
            params[key] -= (1 + self.momentum) * self.lr * grads[key]


class TextbookNesterov2021:
    """common/optimizer.py's Nesterov since 2021-01-18 ("Fix Nesterov update function")."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum, self.v = lr, momentum, None

    def update(self, params, grads):
        if self.v is None:
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            params[key] += self.momentum * self.momentum * self.v[key]
            params[key] -= (1 + self.momentum) * self.lr * grads[key]
            self.v[key] *= self.momentum
            self.v[key] -= self.lr * grads[key]


class TextbookAdaGrad:
    def __init__(self, lr=0.01):
        self.lr, self.h = lr, None

    def update(self, params, grads):
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            self.h[key] += grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


class TextbookRMSprop:
    def __init__(self, lr=0.01, decay_rate=0.99):
        self.lr, self.decay_rate, self.h = lr, decay_rate, None

    def update(self, params, grads):
        if self.h is None:
            self.h = {key: np.zeros_like(val) for key, val in params.items()}
        for key in params.keys():
            self.h[key] *= self.decay_rate
            self.h[key] += (1 - self.decay_rate) * grads[key] * grads[key]
            params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


class TextbookAdam:
    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2, self.iter, self.m, self.v = lr, beta1, beta2, 0, None, None

    def update(self, params, grads):
        if self.m is None:
            self.m = {key: np.zeros_like(val) for key, val in params.items()}
            self.v = {key: np.zeros_like(val) for key, val in params.items()}
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)
        for key in params.keys():
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key]**2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)


def df(x, y):
    return x / 10.0, 2.0 * y


def textbook_path(optimizer, steps=30, init_pos=(-7.0, 2.0)):
    """optimizer_compare_naive.py's loop: the points before each update, then the last."""
    params = {"x": init_pos[0], "y": init_pos[1]}
    grads = {"x": 0, "y": 0}
    history = []
    for _ in range(steps):
        history.append((params["x"], params["y"]))
        grads["x"], grads["y"] = df(params["x"], params["y"])
        optimizer.update(params, grads)
    history.append((params["x"], params["y"]))
    return np.array(history, dtype=np.float64)


#: The documented specs that reproduce the textbook's panels as its code drew them before
#: 2021-01-18 (docs/lab.md, "E3 as the textbook's early code drew it"), and the textbook's own
#: optimizer for each.
TEXTBOOK_E3 = {
    "sgd:lr=0.95": lambda: TextbookSGD(lr=0.95),
    "momentum:lr=0.1,lr_in_buffer=true": lambda: TextbookMomentum(lr=0.1),
    "adagrad:lr=1.5,eps=1e-7": lambda: TextbookAdaGrad(lr=1.5),
    "adam:lr=0.3,eps=1e-7,eps_mode=uncorrected": lambda: TextbookAdam(lr=0.3),
    "rmsprop:lr=0.3,eps=1e-7": lambda: TextbookRMSprop(lr=0.3),
    "nesterov:lr=0.3,lr_in_buffer=true,nesterov_form=textbook":
        lambda: TextbookNesterov2016(lr=0.3),
}
#: Panels whose arithmetic is the textbook's operation for operation: equal bit for bit.
#: The other three group lr·(g/(√h + ε)) where the textbook writes lr·g/(√h + ε) (Adam also
#: folds its corrections into the rate in another order): one rounding apart per step.
BITWISE = ("sgd:lr=0.95", "momentum:lr=0.1,lr_in_buffer=true",
           "nesterov:lr=0.3,lr_in_buffer=true,nesterov_form=textbook")


def test_the_textbook_loop_bit_for_bit_on_a_dict_of_floats():
    """The textbook's own data structure (a dict of Python floats), a few hundred steps of
    E3's surface at several rates and momenta: descentlab with nesterov_form='textbook' and
    lr_in_buffer=True gives the trajectory of the textbook's code before 2021-01-18, bit for
    bit in float64."""
    for lr, mu in ((0.3, 0.9), (0.05, 0.5), (0.9, 0.99)):
        ours = optim.Nesterov(lr=lr, momentum=mu, lr_in_buffer=True, nesterov_form="textbook")
        theirs = TextbookNesterov2016(lr=lr, momentum=mu)
        p, q = {"x": -7.0, "y": 2.0}, {"x": -7.0, "y": 2.0}
        for _ in range(300):
            gx, gy = df(q["x"], q["y"])
            theirs.update(q, {"x": gx, "y": gy})
            ours.update(p, dict(zip("xy", df(p["x"], p["y"]))))
            assert (p["x"], p["y"]) == (float(q["x"]), float(q["y"]))
        assert isinstance(p["x"], float)
        # the velocity is the textbook's v, with the rate inside it
        assert float(ours.state["x"]["buffer"]) == float(theirs.v["x"])


def test_the_early_code_is_not_nesterovs_rule():
    """The 2016 code's variant differs from Nesterov's step (torch's, Keras's, the textbook's
    since 2021) at the first step already: x₁ = x₀ − (1 + μ + μ²)·η·g instead of
    x₀ − (1 + μ)·η·g (hand computation)."""
    lr, mu, g = 0.3, 0.9, 4.0
    standard, textbook = {"y": 2.0}, {"y": 2.0}
    optim.Nesterov(lr=lr, momentum=mu).update(standard, {"y": g})
    optim.Nesterov(lr=lr, momentum=mu, nesterov_form="textbook").update(textbook, {"y": g})
    assert standard["y"] == pytest.approx(2.0 - (1 + mu) * lr * g, rel=1e-15)
    assert textbook["y"] == pytest.approx(2.0 - (1 + mu + mu * mu) * lr * g, rel=1e-15)


def test_the_current_textbook_code_is_nesterovs_rule_in_velocity_form():
    """Since 2021-01-18 the textbook's code is Nesterov's standard rule with the rate in the
    velocity: descentlab's Nesterov(lr_in_buffer=True) follows it to rounding (1e-13 over
    300 steps on the textbook's dict of floats), and the two textbook versions part at step 1
    (hand computation: x₁ = x₀ − (1 + μ)·η·g, as the standard rule)."""
    for lr, mu in ((0.3, 0.9), (0.05, 0.5), (0.9, 0.99)):
        ours = optim.Nesterov(lr=lr, momentum=mu, lr_in_buffer=True)
        theirs = TextbookNesterov2021(lr=lr, momentum=mu)
        p, q = {"x": -7.0, "y": 2.0}, {"x": -7.0, "y": 2.0}
        for _ in range(300):
            theirs.update(q, dict(zip("xy", df(q["x"], q["y"]))))
            ours.update(p, dict(zip("xy", df(p["x"], p["y"]))))
            for k in "xy":
                assert p[k] == pytest.approx(float(q[k]), rel=1e-13, abs=1e-13), (lr, mu)
    lr, mu, g = 0.3, 0.9, 4.0
    new, old = {"y": 2.0}, {"y": 2.0}
    TextbookNesterov2021(lr, mu).update(new, {"y": g})
    TextbookNesterov2016(lr, mu).update(old, {"y": g})
    assert new["y"] == pytest.approx(2.0 - (1 + mu) * lr * g, rel=1e-15)
    assert old["y"] == pytest.approx(2.0 - (1 + mu + mu * mu) * lr * g, rel=1e-15)
    # the E3 panel the current code draws is the standard rule's
    current = race(problems.get("bowl"), ["nesterov:lr=0.3,lr_in_buffer=true"], start=(-7, 2),
                   steps=30)
    np.testing.assert_allclose(current.entries[0].path,
                               textbook_path(TextbookNesterov2021(lr=0.3)), rtol=0, atol=1e-13)


@pytest.mark.parametrize("backend", ["numpy", "fused"])
def test_the_pytorch_buffer_form_agrees_to_rounding_and_paths_give_the_same_bits(backend):
    """With PyTorch's buffer (b = μb + g, no rate inside) the textbook form equals the
    textbook's 2016 loop up to rounding at a constant rate: |Δ| ≤ 1e-13 over 300 steps on
    arrays of 40,000 (so that backend='fused' would use a kernel — it has none for this
    form and must run the NumPy rule, giving the same bits as backend='numpy')."""
    rng = np.random.default_rng(0)
    start = rng.standard_normal((20_000, 2)) * 5
    x = start.copy()
    opt = optim.Nesterov(lr=0.3, nesterov_form="textbook", backend=backend)
    numpy_path = optim.Nesterov(lr=0.3, nesterov_form="textbook", backend="numpy")
    y = start.copy()
    p = {"x": start[:, 0].copy(), "y": start[:, 1].copy()}
    theirs = TextbookNesterov2016(lr=0.3)
    for _ in range(300):
        gx = np.stack(df(x[:, 0], x[:, 1]), axis=-1)
        opt.update(x, gx)
        numpy_path.update(y, np.stack(df(y[:, 0], y[:, 1]), axis=-1))
        theirs.update(p, dict(zip("xy", df(p["x"], p["y"]))))
    np.testing.assert_array_equal(x, y)
    np.testing.assert_allclose(x, np.stack([p["x"], p["y"]], axis=-1), rtol=0, atol=1e-13)


def test_e3_panels_against_the_textbooks_figure():
    """The textbook's E3 figure as its code drew it before 2021-01-18, panel by panel, from
    descentlab's race with the documented specs: three panels bit for bit, the other three
    within 1e-14 (measured: 4.4e-16, two ulps)."""
    result = race(problems.get("bowl"), list(TEXTBOOK_E3), start=(-7, 2), steps=30)
    for entry in result.entries:
        expected = textbook_path(TEXTBOOK_E3[entry.spec]())
        assert entry.path.shape == expected.shape == (31, 2)
        if entry.spec in BITWISE:
            np.testing.assert_array_equal(entry.path, expected, err_msg=entry.spec)
        else:
            np.testing.assert_allclose(entry.path, expected, rtol=0, atol=1e-14,
                                       err_msg=entry.spec)
    # The default Nesterov panel is visibly another path: the variant is what the figure shows.
    standard = race(problems.get("bowl"), ["nesterov:lr=0.3"], start=(-7, 2), steps=30)
    textbook = textbook_path(TextbookNesterov2016(lr=0.3))
    assert np.max(np.abs(standard.entries[0].path - textbook)) > 0.1


def test_cli_spec_in_race_writes_the_textbook_path(tmp_path):
    spec = "nesterov:lr=0.3,lr_in_buffer=true,nesterov_form=textbook"
    assert main(["race", "--problem", "bowl", "--start=-7,2", "--steps", "30", "--optimizers",
                 spec, "sgd:lr=0.95", "--out", str(tmp_path)]) == 0
    rows = [line.split(",") for line in
            (tmp_path / "trajectories.csv").read_text().splitlines()[1:]]
    ours = np.array([[float(r[2]), float(r[3])] for r in rows if r[0] == "nesterov"])
    np.testing.assert_array_equal(ours, textbook_path(TextbookNesterov2016(lr=0.3)))
    with pytest.raises(InputError, match="nesterov_form must be one of 'standard', 'textbook'"):
        build_optimizer("nesterov:nesterov_form=book")


def test_checkpoint_round_trip_resumes_bit_for_bit(tmp_path):
    opt = optim.Nesterov(lr=0.3, lr_in_buffer=True, nesterov_form="textbook")
    p = {"x": -7.0, "y": 2.0}
    for _ in range(5):
        opt.update(p, dict(zip("xy", df(p["x"], p["y"]))))
    opt.save(tmp_path / "ckpt.npz")
    resumed = optim.Nesterov(lr=0.3, lr_in_buffer=True, nesterov_form="textbook")
    resumed.load(tmp_path / "ckpt.npz")
    q = dict(p)
    for _ in range(5):
        opt.update(p, dict(zip("xy", df(p["x"], p["y"]))))
        resumed.update(q, dict(zip("xy", df(q["x"], q["y"]))))
    assert p == q
    # the form is an option of the checkpoint: a standard Nesterov refuses to load it
    with pytest.raises(InputError, match="nesterov_form='textbook'"):
        optim.Nesterov(lr=0.3, lr_in_buffer=True).load(tmp_path / "ckpt.npz")


def test_the_form_changes_mid_run_and_takes_effect():
    """Both forms keep the same buffer: switching at step 3 equals the textbook loop for
    3 steps, then Nesterov's rule from the textbook's velocity on (hand loop)."""
    opt = optim.Nesterov(lr=0.3, lr_in_buffer=True, nesterov_form="textbook")
    theirs = TextbookNesterov2016(lr=0.3)
    p, q = {"x": -7.0, "y": 2.0}, {"x": -7.0, "y": 2.0}
    for _ in range(3):
        opt.update(p, dict(zip("xy", df(p["x"], p["y"]))))
        theirs.update(q, dict(zip("xy", df(q["x"], q["y"]))))
    assert p == {k: float(v) for k, v in q.items()}
    opt.nesterov_form = "standard"
    v = {k: float(a) for k, a in theirs.v.items()}
    for _ in range(3):
        g = dict(zip("xy", df(p["x"], p["y"])))
        opt.update(p, g)
        for k in "xy":  # Keras's Nesterov: v = μv − ηg, p += μv − ηg
            v[k] = v[k] * 0.9 - 0.3 * g[k]
            q[k] = q[k] + (0.9 * v[k] - 0.3 * g[k])
    assert p == {k: float(x) for k, x in q.items()}


def test_a_momentum_without_nesterov_has_no_such_form_and_refusals_change_nothing():
    assert "nesterov_form" not in optim.Momentum.option_descriptors()
    with pytest.raises(InputTypeError, match="has no argument .nesterov_form."):
        optim.create("momentum", nesterov_form="textbook")
    opt = optim.Nesterov(lr=0.1, nesterov_form="textbook")
    p = np.ones(2)
    opt.update(p, np.ones(2))
    saved = copy.deepcopy(opt.state_dict())
    with pytest.raises(InputError, match="nesterov_form='textbook' needs nesterov=True"):
        opt.nesterov = False
    assert opt.nesterov is True
    np.testing.assert_array_equal(opt.state_dict()["state"][""]["buffer"],
                                  saved["state"][""]["buffer"])
    with pytest.raises(InputError, match="nesterov_form must be one of"):
        opt.nesterov_form = "Textbook"
    assert opt.nesterov_form == "textbook"
