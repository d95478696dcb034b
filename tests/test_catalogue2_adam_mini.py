"""Adam-mini against the authors' ``adam-mini`` 1.1.1 (float64) on a small transformer's named
parameters — embedding, query/key (grouped), value, output projection, MLP, biases, norms,
output head, a scalar and an unnamed matrix — with random hyperparameters and 100 steps of
random gradients, a scheduled rate, maximize; the blocks each name gets; checkpoint resume
bit-identical; bad input refused with nothing changed."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
from adam_mini import Adam_mini
from helpers import assert_resume_is_bit_identical
from torch_trajectory import documented_worst, run_ours, torch_trajectory

from descentlab.errors import InputError, NonFiniteError
from descentlab.optim.adam_mini import AdamMini

DIM, HEADS = 8, 2  # a head: 8·8/2 = 32 elements

#: descentlab paths (nested dicts) and their shapes; the torch names are the same with "."
SHAPES = {
    "embed/weight": (10, DIM),
    "layers/0/attn/q_proj/weight": (DIM, DIM),
    "layers/0/attn/q_proj/bias": (DIM,),
    "layers/0/attn/k_proj/weight": (DIM // 2, DIM),  # one key head (grouped attention)
    "layers/0/attn/v_proj/weight": (DIM // 2, DIM),
    "layers/0/attn/o_proj/weight": (DIM, DIM),
    "layers/0/mlp/fc/weight": (16, DIM),
    "layers/0/mlp/fc/bias": (16,),
    "layers/0/norm/weight": (DIM,),
    "final_ln/weight": (DIM,),
    "lm_head/weight": (10, DIM),
    "temperature": (),
    "adapter/weight": (3, 5),
}

#: The block each of them is cut into (what the authors' code does with these names).
BLOCKS = {
    "embed/weight": "row", "layers/0/attn/q_proj/weight": "head",
    "layers/0/attn/q_proj/bias": "adam", "layers/0/attn/k_proj/weight": "head",
    "layers/0/attn/v_proj/weight": "row", "layers/0/attn/o_proj/weight": "row",
    "layers/0/mlp/fc/weight": "row", "layers/0/mlp/fc/bias": "adam",
    "layers/0/norm/weight": "array", "final_ln/weight": "array", "lm_head/weight": "row",
    "temperature": "array", "adapter/weight": "array",
}


def nested(flat):
    """{"a/b": x} → {"a": {"b": x}} (descentlab's parameter tree)."""
    out: dict = {}
    for path, value in flat.items():
        *parents, last = path.split("/")
        node = out
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return out


def flat_of(tree, prefix=""):
    out = {}
    for k, v in tree.items():
        path = f"{prefix}/{k}" if prefix else k
        out.update(flat_of(v, path) if isinstance(v, dict) else {path: v})
    return out


def case(seed):
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    scales = {k: 10 ** rng.uniform(-1, 0.5) for k in SHAPES}
    grads = [{k: scales[k] * rng.standard_normal(s) for k, s in SHAPES.items()}
             for _ in range(100)]
    hyper = dict(lr=float(rng.uniform(1e-3, 0.05)), b1=float(rng.uniform(0.5, 0.99)),
                 b2=float(rng.uniform(0.9, 0.9999)), eps=10 ** float(rng.uniform(-10, -6)),
                 wd=float(rng.uniform(0, 0.3)))
    return params, grads, hyper


def reference(params, grads, hyper, lr_at=None):
    names = [k.replace("/", ".") for k in params]

    def make(tensors):
        return Adam_mini(zip(names, tensors), lr=hyper["lr"], betas=(hyper["b1"], hyper["b2"]),
                         eps=hyper["eps"], weight_decay=hyper["wd"], dim=DIM, n_heads=HEADS,
                         n_kv_heads=1, verbose=False)

    return [nested(step) for step in torch_trajectory(make, params, grads, lr_at=lr_at)]


def wavy(lr, k):
    return lr * (1 + 0.5 * np.sin(k))


def worst_difference(seed, schedule=False, maximize=False):
    params, grads, hyper = case(seed)
    lr_at = functools.partial(wavy, hyper["lr"]) if schedule else None
    theirs = [{k: -v for k, v in g.items()} for g in grads] if maximize else grads
    expected = [flat_of(e) for e in reference(params, theirs, hyper, lr_at)]
    opt = AdamMini(lr_at or hyper["lr"], hyper["b1"], hyper["b2"], hyper["eps"], hyper["wd"],
                   dim=DIM, n_heads=HEADS, n_kv_heads=1, maximize=maximize)
    tree, got = nested(params), []
    for g in grads:
        opt.update(tree, nested(g))
        got.append(flat_of(copy.deepcopy(tree)))
    # the same comparison as the other references: run_ours on the flattened trajectory
    replay = _Replay(got)
    return run_ours(replay, params, grads, expected, f"adam_mini seed {seed} "
                    f"schedule={schedule} maximize={maximize}")


class _Replay:
    """Plays back our nested run, flattened, to :func:`run_ours` (which compares flat dicts)."""

    def __init__(self, steps):
        self.steps, self.k = steps, 0

    def update(self, params, grads):
        params.update(copy.deepcopy(self.steps[self.k]))
        self.k += 1


def test_float64_matches_the_authors_adam_mini_and_the_docs_quote_the_worst_difference():
    worst = max(worst_difference(seed, schedule, maximize)
                for seed in range(2) for schedule, maximize in
                ((False, False), (True, False), (False, True)))
    assert worst <= documented_worst("adam_mini") <= 10 * max(worst, 1e-16)


def test_each_name_gets_the_authors_block_and_state_of_its_size():
    opt = AdamMini(dim=DIM, n_heads=HEADS)
    assert {path: opt.role(path) for path in SHAPES} == BLOCKS
    params, grads, _ = case(0)
    opt.update(nested(params), nested(grads[0]))
    sizes = {path: {k: v.shape for k, v in opt.state[path].items()} for path in SHAPES}
    assert sizes["layers/0/attn/q_proj/weight"] == {"m": (DIM, DIM), "v_head": (2, 1)}
    assert sizes["layers/0/attn/k_proj/weight"]["v_head"] == (1, 1)
    assert sizes["embed/weight"]["v_row"] == (10, 1)
    assert sizes["layers/0/mlp/fc/bias"]["v"] == (16,)
    assert sizes["adapter/weight"]["v_array"] == ()


def test_keywords_can_be_added_before_the_first_update_only():
    opt = AdamMini(dim=DIM, n_heads=HEADS)
    opt.keywords["row"] += ("adapter",)
    params, grads, _ = case(1)
    tree = nested(params)
    opt.update(tree, nested(grads[0]))
    assert opt.state["adapter/weight"]["v_row"].shape == (3, 1)
    opt.keywords["row"] = opt.keywords["row"][:-1]
    before = copy.deepcopy(tree)
    with pytest.raises(InputError, match="adapter/weight.*changed after its first update"):
        opt.update(tree, nested(grads[1]))
    np.testing.assert_array_equal(tree["adapter"]["weight"], before["adapter"]["weight"])


@pytest.mark.parametrize("kwargs", [{}, {"weight_decay": 0.1}])
def test_resume_is_bit_identical(kwargs, tmp_path):
    lr = lambda k: 0.01 / (1 + k)  # noqa: E731
    assert_resume_is_bit_identical(lambda: AdamMini(lr, **kwargs), tmp_path / "opt.npz", 3)


def test_a_checkpoint_of_other_blocks_is_refused_naming_the_parameter(tmp_path):
    params = {"mlp": np.ones((2, 3))}
    opt = AdamMini(dim=DIM, n_heads=HEADS)
    opt.update(params, {"mlp": np.ones((2, 3))})
    opt.save(tmp_path / "opt.npz")
    other = AdamMini(dim=DIM, n_heads=HEADS)
    other.keywords["row"] = ()
    with pytest.raises(Exception, match="mlp"):
        other.load(tmp_path / "opt.npz")
    assert other.state == {} and other.step == 0


def test_bad_input_is_refused_naming_it_and_nothing_changes():
    opt = AdamMini(0.01, dim=DIM, n_heads=HEADS)
    params = {"mlp": {"w": np.ones((2, 3))}, "norm": np.array([1.0, 2.0])}
    opt.update(params, {"mlp": {"w": np.ones((2, 3))}, "norm": np.array([0.1, 0.2])})
    before, state = copy.deepcopy(params), copy.deepcopy(opt.state)
    with pytest.raises(InputError, match="n_heads"):
        AdamMini(dim=8, n_heads=3)
    with pytest.raises(InputError, match="n_heads"):
        opt.n_heads = 4  # it decides what the state holds
    with pytest.raises(InputError, match="n_kv_heads=3 must divide n_heads=2"):
        opt.n_kv_heads = 3
    with pytest.raises(InputError, match="n_kv_heads must be a whole number"):
        AdamMini(n_kv_heads=0)
    with pytest.raises(InputError, match="decoupled_weight_decay"):
        opt.decoupled_weight_decay = False
    with pytest.raises(NonFiniteError, match="parameter .norm. is not finite at step 2"):
        opt.update(params, {"mlp": {"w": np.ones((2, 3))}, "norm": np.array([np.nan, 0.0])})
    with pytest.raises(InputError, match="'mlp/b'.*rows.*shape \\(3,\\)"):
        AdamMini().update({"mlp": {"b": np.ones(3)}}, {"mlp": {"b": np.ones(3)}})
    with pytest.raises(InputError, match="'wq'.*32 elements.*has 6"):
        AdamMini(dim=8, n_heads=2).update({"wq": np.ones((2, 3))}, {"wq": np.ones((2, 3))})
    np.testing.assert_array_equal(params["mlp"]["w"], before["mlp"]["w"])
    np.testing.assert_array_equal(params["norm"], before["norm"])
    for path in state:
        for slot in state[path]:
            np.testing.assert_array_equal(opt.state[path][slot], state[path][slot])
    assert opt.step == 1 and opt.n_heads == HEADS and opt.n_kv_heads is None
