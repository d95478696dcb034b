"""The optimizer spec syntax NAME[:key=value,...]."""

import pytest

from descentlab import optim
from descentlab.lab.spec import SpecError, build_optimizer, parse_optimizer_spec, parse_value


@pytest.mark.parametrize("text, expected", [
    ("adam", ("adam", {})),
    ("  Adam  ", ("adam", {})),
    ("adam:lr=0.001,beta2=0.99", ("adam", {"lr": 0.001, "beta2": 0.99})),
    ("sgd: lr = 1e-2 ", ("sgd", {"lr": 0.01})),
    ("rmsprop:eps_mode=inside,centered=True,momentum=0",
     ("rmsprop", {"eps_mode": "inside", "centered": True, "momentum": 0})),
    ("adam:clip_norm=none", ("adam", {"clip_norm": None})),
    ("amsgrad:lr=-3", ("amsgrad", {"lr": -3})),
])
def test_parse(text, expected):
    assert parse_optimizer_spec(text) == expected


def test_value_types():
    assert parse_value("7") == 7 and type(parse_value("7")) is int
    assert type(parse_value("7.0")) is float
    assert parse_value("FALSE") is False
    assert parse_value("inf") == float("inf")


@pytest.mark.parametrize("text, culprit, caret_col", [
    ("", "empty", 0),
    (":lr=1", "missing optimizer name", 0),
    ("adm:lr=1", "unknown optimizer 'adm'", 0),
    ("adam:", "nothing after", 5),
    ("adam:lr=0.1,beta2", "'beta2' is not key=value", 12),
    ("adam:lr=0.1,,beta2=1", "empty item", 12),
    ("adam:lr=", "missing value for 'lr'", 8),
    ("adam:2x=1", "invalid key '2x'", 5),
    ("adam:lr=1,lr=2", "'lr' given twice", 10),
])
def test_errors_point_at_the_culprit(text, culprit, caret_col):
    with pytest.raises(SpecError) as e:
        parse_optimizer_spec(text)
    msg = str(e.value)
    assert culprit in msg
    pointer = msg.splitlines()[-1]
    assert pointer.index("^") - 2 == caret_col  # two spaces of indentation


def test_build():
    opt = build_optimizer("adam:lr=0.01,beta2=0.99")
    assert isinstance(opt, optim.Adam)
    assert (opt.lr, opt.beta1, opt.beta2) == (0.01, 0.9, 0.99)
    assert build_optimizer("amsgrad").amsgrad is True
    # the spec wins over the caller's defaults
    assert build_optimizer("sgd:lr=0.5", lr=0.01).lr == 0.5
    assert build_optimizer("sgd", lr=0.01).lr == 0.01


@pytest.mark.parametrize("text, culprit", [
    ("adam:bogus=1", "bogus"),
    ("adam:lr=fast", "lr"),
])
def test_build_errors_name_the_keyword(text, culprit):
    with pytest.raises(ValueError, match=culprit):
        build_optimizer(text)
