"""MinibatchSampler: partitions without replacement, reshuffles, reproducible, resumable."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sgdlab.sampler import MinibatchSampler

sizes = st.integers(1, 300).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n)))


def _sampler(n, b, seed=0, **kw):
    return MinibatchSampler(n, b, generator=torch.Generator().manual_seed(seed), **kw)


@settings(max_examples=200, deadline=None)
@given(sizes, st.booleans())
def test_each_epoch_is_a_partition_without_replacement(nb, drop_last):
    n, b = nb
    s = _sampler(n, b, drop_last=drop_last)
    for _ in range(3):
        batches = list(s)
        assert len(batches) == len(s)
        flat = torch.cat(batches).tolist()
        assert len(flat) == len(set(flat))  # no index twice
        assert all(len(x) == b for x in batches[:-1] if True) and len(batches[-1]) <= b
        if drop_last:
            assert len(flat) == (n // b) * b and all(len(x) == b for x in batches)
        else:
            assert sorted(flat) == list(range(n))  # every index exactly once


@settings(max_examples=50, deadline=None)
@given(st.integers(20, 500), st.integers(1, 8))
def test_every_epoch_draws_a_different_partition(n, b):
    s = _sampler(n, b)
    epochs = [torch.cat(list(s)) for _ in range(4)]
    assert all(not torch.equal(epochs[i], epochs[i + 1]) for i in range(3))
    assert s.epoch == 4


@settings(max_examples=50, deadline=None)
@given(sizes, st.integers(0, 2**31))
def test_same_seed_same_batches_other_seed_other_batches(nb, seed):
    n, b = nb
    a = [x.tolist() for _ in range(2) for x in _sampler(n, b, seed)]
    c = [x.tolist() for _ in range(2) for x in _sampler(n, b, seed)]
    assert a == c
    if n >= 10:
        d = [x.tolist() for _ in range(2) for x in _sampler(n, b, seed + 1)]
        assert a != d


@settings(max_examples=100, deadline=None)
@given(sizes, st.integers(0, 1000), st.integers(0, 2**31))
def test_resume_anywhere_gives_the_same_future(nb, cut, seed):
    n, b = nb
    ref = _sampler(n, b, seed)
    stream = [x.tolist() for _ in range(3) for x in ref]
    cut = cut % (len(stream) + 1)
    s = _sampler(n, b, seed)
    it, seen = iter(s), []
    while len(seen) < cut:  # consume `cut` batches across epoch boundaries
        try:
            seen.append(next(it).tolist())
        except StopIteration:
            it = iter(s)
    state = s.state_dict()
    resumed = _sampler(n, b, seed=12345)  # different seed: the state must override it
    resumed.load_state_dict(state)
    rest = []
    while len(seen) + len(rest) < len(stream):
        rest += [x.tolist() for x in resumed]
    assert seen + rest == stream


def test_validation_errors_are_clear():
    g = torch.Generator()
    with pytest.raises(ValueError, match="batch_size"):
        MinibatchSampler(10, 0, generator=g)
    with pytest.raises(ValueError, match="exceeds"):
        MinibatchSampler(10, 11, generator=g)
    with pytest.raises(ValueError, match="n must"):
        MinibatchSampler(0, 1, generator=g)
    with pytest.raises(TypeError, match="Generator"):
        MinibatchSampler(10, 2, generator=0)
    with pytest.raises(ValueError, match="mismatch"):
        _sampler(10, 2).load_state_dict(_sampler(10, 3).state_dict())
