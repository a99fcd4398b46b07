"""Closed forms in mqlb.theory: reference values, identities, properties, errors.

The reference values are the ones the book quotes; the identities are ones
that a wrong formula would break; independent re-derivations (direct sums,
a root finder) check the numerically clever implementations.
"""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from mqlb import theory

# --------------------------------------------------------------------------
# Reference values quoted in the book
# --------------------------------------------------------------------------


def test_mm1_at_rho_08():
    result = theory.mm1(lam=0.8, mu=1.0)
    assert result.rho == pytest.approx(0.8)
    assert result.W == pytest.approx(5.0)
    assert result.Wq == pytest.approx(4.0)
    assert result.L == pytest.approx(4.0)
    assert result.Lq == pytest.approx(3.2)
    assert result.p_wait == pytest.approx(0.8)


def test_mm4_shared_queue_reference():
    result = theory.mmc(lam=3.2, mu=1.0, c=4)
    assert result.rho == pytest.approx(0.8)
    assert result.p_wait == pytest.approx(0.5964, abs=1e-4)
    assert result.W == pytest.approx(1.7455, abs=1e-4)


def test_resource_pooling_four_mm1_vs_mm4():
    separate = theory.mm1_random_split(lam=3.2, mu=1.0, k=4)
    pooled = theory.mmc(lam=3.2, mu=1.0, c=4)
    assert separate.W == pytest.approx(5.0)
    assert pooled.W < separate.W / 2.8


def test_md1_at_rho_08():
    result = theory.mg1(lam=0.8, mean_size=1.0, c2=0.0)
    assert result.Wq == pytest.approx(2.0)
    assert result.W == pytest.approx(3.0)


def test_erlang_b_five_servers_load_25():
    assert theory.erlang_b(offered_load=2.5, c=5) == pytest.approx(0.0697, abs=1e-4)


def test_supermarket_two_choices_at_09():
    # sum_{i>=1} 0.9^(2^i - 2) = 1 + 0.9^2 + 0.9^6 + 0.9^14 + ... = 2.6141
    assert theory.supermarket(lam=0.9, d=2) == pytest.approx(2.61406, abs=1e-5)


def test_supermarket_one_choice_is_random_mm1():
    assert theory.supermarket(lam=0.9, d=1) == pytest.approx(10.0)


@pytest.mark.parametrize(
    "rho, scale_up_W, scale_out_W",
    [(0.1, 0.2778, 1.0002), (0.9, 2.5000, 2.9694)],
)
def test_scale_up_vs_out_k4(rho, scale_up_W, scale_out_W):
    # Total capacity 4 jobs/s: one server at 4/s against four at 1/s.
    result = theory.scale_up_vs_out(lam=rho * 4.0, mu_total=4.0, k=4)
    assert result.scale_up.W == pytest.approx(scale_up_W, abs=1e-4)
    assert result.scale_out.W == pytest.approx(scale_out_W, abs=1e-4)
    assert result.ratio > 1.0


def test_one_fast_server_speed_4():
    assert theory.mm1_speed(lam=3.2, mu=1.0, speed=4).W == pytest.approx(1.25)


def test_mmc_wait_quantile_matches_tail_formula():
    metrics = theory.mmc(3.2, 1.0, 4)
    t99 = theory.mmc_wait_quantile(3.2, 1.0, 4, q=0.99)
    assert metrics.p_wait * math.exp(-(4.0 - 3.2) * t99) == pytest.approx(0.01)
    assert theory.mmc_wait_quantile(3.2, 1.0, 4, q=0.3) == 0.0


def test_mg1_ps_is_insensitive_and_equals_mm1():
    assert theory.mg1_ps(lam=0.8, mean_size=1.0) == pytest.approx(theory.mm1(0.8, 1.0).W)


def test_little_helpers_round_trip():
    assert theory.little_L(lam=2.0, W=1.5) == pytest.approx(3.0)
    assert theory.little_W(L=3.0, lam=2.0) == pytest.approx(1.5)


# --------------------------------------------------------------------------
# Identities and independent re-derivations
# --------------------------------------------------------------------------


def _erlang_b_direct(a, c):
    terms = [a**n / math.factorial(n) for n in range(c + 1)]
    return terms[-1] / sum(terms)


def _erlang_c_direct(a, c):
    rho = a / c
    head = sum(a**n / math.factorial(n) for n in range(c))
    tail = a**c / math.factorial(c) / (1 - rho)
    return tail / (head + tail)


@pytest.mark.parametrize("a, c", [(0.5, 1), (2.5, 5), (3.2, 4), (17.0, 20), (45.0, 60)])
def test_erlang_recursion_matches_direct_sums(a, c):
    assert theory.erlang_b(a, c) == pytest.approx(_erlang_b_direct(a, c), rel=1e-10)
    assert theory.erlang_c(a, c) == pytest.approx(_erlang_c_direct(a, c), rel=1e-10)


def test_erlang_c_is_stable_for_a_thousand_servers():
    p_wait = theory.erlang_c(offered_load=990.0, c=1000)
    assert 0.0 < p_wait < 1.0
    assert math.isfinite(theory.mmc(990.0, 1.0, 1000).W)


@pytest.mark.parametrize("lam, mu", [(0.1, 1.0), (0.8, 1.0), (3.0, 4.0), (9.99, 10.0)])
def test_mmc_with_one_server_is_mm1(lam, mu):
    single, general = theory.mm1(lam, mu), theory.mmc(lam, mu, 1)
    for field in ("rho", "p_wait", "W", "Wq", "L", "Lq"):
        assert getattr(general, field) == pytest.approx(getattr(single, field), rel=1e-12)


@pytest.mark.parametrize("lam, mu", [(0.2, 1.0), (0.8, 1.0), (2.5, 3.0)])
def test_mg1_with_exponential_sizes_is_mm1(lam, mu):
    assert theory.mg1(lam, 1.0 / mu, c2=1.0).W == pytest.approx(theory.mm1(lam, mu).W)


@pytest.mark.parametrize("lam, mu", [(0.2, 1.0), (0.8, 1.0), (0.99, 1.0), (2.5, 3.0)])
def test_gi_m1_round_robin_with_one_server_is_mm1(lam, mu):
    result, single = theory.gi_m1_round_robin(lam, mu, k=1), theory.mm1(lam, mu)
    assert result.W == pytest.approx(single.W, rel=1e-9)
    assert result.p_wait == pytest.approx(single.p_wait, rel=1e-9)


@pytest.mark.parametrize("lam, k", [(3.2, 4), (1.0, 2), (7.5, 8), (15.9, 16)])
def test_gi_m1_sigma_solves_the_fixed_point(lam, k):
    mu = 1.0

    def gap(sigma):
        return (lam / (lam + mu * (1 - sigma))) ** k - sigma

    # sigma = 1 is always a root; the one we want is the other, just below it.
    upper = 1.0 - 1e-6
    assert gap(0.0) > 0 > gap(upper)
    expected = optimize.brentq(gap, 0.0, upper, xtol=1e-15)
    assert theory.gi_m1_round_robin(lam, mu, k).p_wait == pytest.approx(expected, rel=1e-9)


def test_round_robin_sits_between_pooling_and_random_split():
    pooled = theory.mmc(3.2, 1.0, 4).W
    round_robin = theory.gi_m1_round_robin(3.2, 1.0, 4).W
    random_split = theory.mm1_random_split(3.2, 1.0, 4).W
    assert pooled < round_robin < random_split


@pytest.mark.parametrize("lam, d", [(0.5, 2), (0.9, 2), (0.99, 2), (0.9, 3), (0.95, 5)])
def test_supermarket_matches_tail_fraction_form(lam, d):
    # E[T] = (1/lam) * sum_i s_i with s_i = lam^((d^i - 1)/(d - 1)) (mu = 1).
    direct = sum(lam ** ((d**i - 1) / (d - 1)) for i in range(1, 40)) / lam
    assert theory.supermarket(lam, d) == pytest.approx(direct, rel=1e-12)


def test_supermarket_more_choices_help_and_mu_rescales_time():
    assert theory.supermarket(0.9, 1) > theory.supermarket(0.9, 2) > theory.supermarket(0.9, 3)
    assert theory.supermarket(1.8, 2, mu=2.0) == pytest.approx(theory.supermarket(0.9, 2) / 2)


def test_processor_sharing_beats_fcfs_only_above_c2_of_one():
    fcfs_low, fcfs_high = theory.mg1(0.8, 1.0, 0.0).W, theory.mg1(0.8, 1.0, 9.0).W
    assert fcfs_low < theory.mg1_ps(0.8, 1.0) < fcfs_high


# --------------------------------------------------------------------------
# Properties over random stable parameters
# --------------------------------------------------------------------------

rhos = st.floats(min_value=0.01, max_value=0.98)
service_rates = st.floats(min_value=0.05, max_value=50.0)
server_counts = st.integers(min_value=1, max_value=64)


@settings(max_examples=200, deadline=None)
@given(rho=rhos, mu=service_rates, c=server_counts)
def test_mmc_obeys_littles_law_and_bounds(rho, mu, c):
    lam = rho * c * mu
    result = theory.mmc(lam, mu, c)
    assert result.L == pytest.approx(lam * result.W, rel=1e-12)
    assert result.Lq == pytest.approx(lam * result.Wq, rel=1e-12)
    assert result.W == pytest.approx(result.Wq + 1.0 / mu, rel=1e-12)
    assert result.W >= 1.0 / mu
    assert 0.0 <= theory.erlang_b(lam / mu, c) <= result.p_wait <= 1.0


@settings(max_examples=200, deadline=None)
@given(rho_low=rhos, rho_high=rhos, mu=service_rates, c=server_counts)
def test_mmc_response_grows_with_load(rho_low, rho_high, mu, c):
    rho_low, rho_high = sorted((rho_low, rho_high))
    low = theory.mmc(rho_low * c * mu, mu, c)
    high = theory.mmc(rho_high * c * mu, mu, c)
    assert low.W <= high.W * (1 + 1e-12)
    assert low.p_wait <= high.p_wait * (1 + 1e-12)


@settings(max_examples=200, deadline=None)
@given(rho=rhos, mu=service_rates, c=st.integers(min_value=1, max_value=63))
def test_more_servers_at_same_utilisation_wait_less(rho, mu, c):
    fewer = theory.mmc(rho * c * mu, mu, c)
    more = theory.mmc(rho * (c + 1) * mu, mu, c + 1)
    assert more.Wq <= fewer.Wq * (1 + 1e-12)


@settings(max_examples=200, deadline=None)
@given(rho=rhos, mean_size=st.floats(min_value=0.01, max_value=10.0),
       c2=st.floats(min_value=0.0, max_value=100.0))
def test_mg1_obeys_littles_law_and_grows_with_variability(rho, mean_size, c2):
    lam = rho / mean_size
    result = theory.mg1(lam, mean_size, c2)
    assert result.L == pytest.approx(lam * result.W, rel=1e-12)
    assert result.W >= mean_size
    assert theory.mg1(lam, mean_size, c2 + 1.0).W > result.W


@settings(max_examples=200, deadline=None)
@given(rho=rhos, mu=service_rates, k=st.integers(min_value=1, max_value=32))
def test_round_robin_bounded_by_pooling_and_random(rho, mu, k):
    lam = rho * k * mu
    round_robin = theory.gi_m1_round_robin(lam, mu, k)
    assert round_robin.L == pytest.approx(lam * round_robin.W, rel=1e-12)
    assert theory.mmc(lam, mu, k).W <= round_robin.W * (1 + 1e-9)
    assert round_robin.W <= theory.mm1_random_split(lam, mu, k).W * (1 + 1e-9)


@settings(max_examples=100, deadline=None)
@given(rho=rhos, mu_total=service_rates, k=st.integers(min_value=1, max_value=32))
def test_scale_up_never_loses_with_exponential_sizes(rho, mu_total, k):
    result = theory.scale_up_vs_out(rho * mu_total, mu_total, k)
    assert result.scale_up.W <= result.scale_out.W * (1 + 1e-12)


@settings(max_examples=100, deadline=None)
@given(lam=st.floats(min_value=0.01, max_value=0.999), d=st.integers(min_value=1, max_value=6))
def test_supermarket_between_one_service_and_mm1(lam, d):
    value = theory.supermarket(lam, d)
    assert 1.0 <= value <= 1.0 / (1.0 - lam) * (1 + 1e-12)


# --------------------------------------------------------------------------
# Invalid input: the right exception, naming the parameter
# --------------------------------------------------------------------------

INVALID = [
    # (function, kwargs, exception, words the message must contain)
    (theory.mm1, dict(lam=-1.0, mu=1.0), ValueError, ["lam", "-1.0", "> 0"]),
    (theory.mm1, dict(lam=0.0, mu=1.0), ValueError, ["lam", "> 0"]),
    (theory.mm1, dict(lam=1.0, mu=0.0), ValueError, ["mu", "> 0"]),
    (theory.mm1, dict(lam=1.0, mu=math.inf), ValueError, ["mu", "inf"]),
    (theory.mm1, dict(lam=math.nan, mu=1.0), ValueError, ["lam", "NaN"]),
    (theory.mm1, dict(lam="0.5", mu=1.0), TypeError, ["lam", "'0.5'", "str"]),
    (theory.mm1, dict(lam=None, mu=1.0), TypeError, ["lam", "None"]),
    (theory.mm1, dict(lam=True, mu=1.0), TypeError, ["lam", "bool"]),
    (theory.mm1, dict(lam=5.0, mu=4.0), ValueError, ["rho", "< 1", "lam=5.0", "mu=4.0", "1.25"]),
    (theory.mm1, dict(lam=1.0, mu=1.0), ValueError, ["rho", "< 1"]),
    (theory.mmc, dict(lam=1.0, mu=1.0, c=0), ValueError, ["c", "whole number", "0"]),
    (theory.mmc, dict(lam=1.0, mu=1.0, c=4.0), TypeError, ["c", "whole number", "float"]),
    (theory.mmc, dict(lam=1.0, mu=1.0, c=True), TypeError, ["c", "bool"]),
    (theory.mmc, dict(lam=4.0, mu=1.0, c=4), ValueError, ["rho", "c=4"]),
    (theory.mmc, dict(lam=-3.2, mu=1.0, c=4), ValueError, ["lam"]),
    (theory.mmc_wait_quantile, dict(lam=1.0, mu=1.0, c=2, q=1.0), ValueError, ["q", "[0, 1)"]),
    (theory.erlang_b, dict(offered_load=-1.0, c=5), ValueError, ["offered_load", ">= 0"]),
    (theory.erlang_b, dict(offered_load=2.5, c=-5), ValueError, ["c", "-5"]),
    (theory.erlang_b, dict(offered_load=2.5, c=2.5), TypeError, ["c", "float"]),
    (theory.erlang_c, dict(offered_load=5.0, c=5), ValueError, ["rho", "offered_load=5.0"]),
    (theory.mg1, dict(lam=1.0, mean_size=1.0, c2=0.0), ValueError, ["rho", "mean_size"]),
    (theory.mg1, dict(lam=0.5, mean_size=-1.0, c2=1.0), ValueError, ["mean_size"]),
    (theory.mg1, dict(lam=0.5, mean_size=1.0, c2=-0.1), ValueError, ["c2", ">= 0"]),
    (theory.mg1, dict(lam=0.5, mean_size=1.0, c2="1"), TypeError, ["c2", "str"]),
    (theory.mg1_ps, dict(lam=2.0, mean_size=0.5), ValueError, ["rho"]),
    (theory.mg1_ps, dict(lam=0.0, mean_size=0.5), ValueError, ["lam"]),
    (theory.gi_m1_round_robin, dict(lam=4.0, mu=1.0, k=4), ValueError, ["rho", "k=4"]),
    (theory.gi_m1_round_robin, dict(lam=1.0, mu=1.0, k=0), ValueError, ["k"]),
    (theory.gi_m1_round_robin, dict(lam=1.0, mu=-1.0, k=2), ValueError, ["mu"]),
    (theory.mm1_speed, dict(lam=1.0, mu=1.0, speed=0.0), ValueError, ["speed"]),
    (theory.mm1_speed, dict(lam=5.0, mu=1.0, speed=4.0), ValueError, ["rho"]),
    (theory.mm1_random_split, dict(lam=1.0, mu=1.0, k=1.5), TypeError, ["k"]),
    (theory.scale_up_vs_out, dict(lam=1.0, mu_total=0.0, k=4), ValueError, ["mu_total"]),
    (theory.scale_up_vs_out, dict(lam=1.0, mu_total=4.0, k=0), ValueError, ["k"]),
    (theory.supermarket, dict(lam=1.0, d=2), ValueError, ["rho", "lam=1.0"]),
    (theory.supermarket, dict(lam=0.5, d=0), ValueError, ["d"]),
    (theory.supermarket, dict(lam=0.5, d=2.0), TypeError, ["d", "float"]),
    (theory.little_L, dict(lam=-1.0, W=1.0), ValueError, ["lam"]),
    (theory.little_W, dict(L=1.0, lam=0.0), ValueError, ["lam"]),
    (theory.little_W, dict(L=-1.0, lam=1.0), ValueError, ["L"]),
]


@pytest.mark.parametrize(
    "function, kwargs, error, words",
    INVALID,
    ids=[f"{f.__name__}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for f, kw, _, _ in INVALID],
)
def test_invalid_input_raises_error_naming_the_parameter(function, kwargs, error, words):
    with pytest.raises(error) as raised:
        function(**kwargs)
    message = str(raised.value)
    for word in words:
        assert word in message


def test_results_are_frozen():
    result = theory.mm1(0.5, 1.0)
    with pytest.raises(AttributeError):
        result.W = 0.0  # type: ignore[misc]


def test_numpy_numbers_are_accepted():
    np = pytest.importorskip("numpy")
    assert theory.mmc(np.float64(3.2), np.float32(1.0), np.int64(4)).W == pytest.approx(1.7455, abs=1e-4)
