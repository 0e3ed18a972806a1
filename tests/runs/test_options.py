"""RunOptions: the scoring overrides a suite carries to every task."""

import pickle

import pytest

from ganbench.errors import UserError
from ganbench.runs.options import RunOptions


def test_scoring_arguments_default_to_the_standard_protocol(tmp_path):
    opts = RunOptions(tmp_path, "cpu", None, 3)
    assert opts.scoring() == {"eval_seed": 3, "device": "cpu", "data_root": None, "n": None, "options": None}


def test_eval_overrides_travel_as_sorted_pairs_and_survive_pickling(tmp_path):
    opts = RunOptions(tmp_path, eval_n=100, eval_options={"n_real": 50, "kid_subsets": 3})
    assert opts.eval_options == (("kid_subsets", 3), ("n_real", 50))
    assert opts.scoring()["options"] == {"kid_subsets": 3, "n_real": 50} and opts.scoring()["n"] == 100
    assert pickle.loads(pickle.dumps(opts)) == opts and hash(opts) == hash(RunOptions(
        tmp_path, eval_n=100, eval_options=[("n_real", 50), ("kid_subsets", 3)]))  # fmt: skip


@pytest.mark.parametrize("n", [1, 2.5, True, "10"])
def test_bad_eval_n_is_named(tmp_path, n):
    with pytest.raises(UserError, match="--n must be an integer of at least 2"):
        RunOptions(tmp_path, eval_n=n)


def test_bad_eval_options_are_named(tmp_path):
    with pytest.raises(TypeError, match="eval_options must be a dict or"):
        RunOptions(tmp_path, eval_options=5)
