# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""tools/bench/figstats.py on small hand-written samples whose answers are worked out by hand
in the comments: quartiles, the ratio of medians, the bootstrap interval where it can only take
known values, and the verdicts at and around their boundaries."""
import os
import random
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tools/bench"))
import figstats  # noqa: E402


def test_summary_odd_count():
    # sorted 1 2 3 4 5: median at position 2 -> 3; q1 at 0.25*4 = 1 -> 2; q3 at 3 -> 4
    s = figstats.summary([5, 1, 3, 2, 4])
    assert s == {"n": 5, "median": 3, "q1": 2, "q3": 4, "iqr": 2, "min": 1, "max": 5}


def test_summary_even_count_interpolates():
    # sorted 1 2 3 4: median at 1.5 -> 2.5; q1 at 0.75 -> 1 + 0.75 = 1.75; q3 at 2.25 -> 3.25
    s = figstats.summary([4, 2, 1, 3])
    assert (s["median"], s["q1"], s["q3"], s["iqr"]) == (2.5, 1.75, 3.25, 1.5)


def test_summary_of_one_sample_and_refusals():
    assert figstats.summary([7]) == {"n": 1, "median": 7, "q1": 7, "q3": 7, "iqr": 0,
                                     "min": 7, "max": 7}
    with pytest.raises(ValueError):
        figstats.summary([])
    with pytest.raises(ValueError):
        figstats.summary([1, float("nan")])


def test_ratio_of_medians():
    # medians 20 and 10 (the means would be the same here; the next line tells them apart)
    assert figstats.ratio_of_medians([20, 22, 18], [10, 11, 9]) == 2.0
    # medians 2 and 1, means 34 and 1: a median, not a mean
    assert figstats.ratio_of_medians([1, 2, 100], [1, 1, 1]) == 2.0
    with pytest.raises(ValueError):
        figstats.ratio_of_medians([1], [0, 0, 1])


def test_bootstrap_of_constant_samples_is_a_point():
    # every resample of [12]*5 has median 12, of [10]*5 median 10: the interval is [1.2, 1.2]
    assert figstats.bootstrap_ratio_ci([12] * 5, [10] * 5) == (1.2, 1.2)


def test_bootstrap_takes_the_two_possible_ratios_as_bounds():
    # num = 9 9 11 11 11: a resample's median is 9 when at least 3 of its 5 draws are 9
    # (p = 0.4): 10*.4^3*.6^2 + 5*.4^4*.6 + .4^5 = 0.31744, else 11. den is always 10.
    # So the ratio is 0.9 (31.7 %) or 1.1 (68.3 %): the 2.5th and 97.5th percentiles are
    # 0.9 and 1.1, while the ratio of medians is 1.1.
    num, den = [9, 9, 11, 11, 11], [10] * 5
    lo, hi = figstats.bootstrap_ratio_ci(num, den)
    assert (lo, hi) == (0.9, 1.1)
    assert figstats.ratio_of_medians(num, den) == 1.1
    # the point estimate clears 1.0, the interval straddles it: not settled, never met
    assert figstats.verdict(lo, hi, ">= 1.0") == "not settled"


def test_bootstrap_interval_wholly_below_and_boundaries():
    # num = 7 8 8 8 9: a resample's median is 7 when >= 3 of 5 draws are 7 (p = 0.2):
    # 10*.2^3*.8^2 + 5*.2^4*.8 + .2^5 = 0.05792 > 0.025, likewise 9; so the interval of the
    # ratio over den = 10 is exactly [0.7, 0.9].
    c = figstats.compare([7, 8, 8, 8, 9], [10] * 5, ">= 0.95")
    assert c["ci"] == [0.7, 0.9] and c["ratio"] == 0.8
    assert c["verdict"] == "not settled"       # all of it below 0.95, but 5 < MIN_N runs a side
    lo, hi = c["ci"]
    assert figstats.verdict(lo, hi, ">= 0.7") == "met"          # lower bound on the target
    assert figstats.verdict(lo, hi, ">= 0.71") == "not settled"
    assert figstats.verdict(lo, hi, "<= 0.9") == "met"          # upper bound on the target
    assert figstats.verdict(lo, hi, "<= 0.8") == "not settled"
    assert figstats.verdict(lo, hi, "<= 0.65") == "missed"
    assert figstats.verdict(lo, hi, ">= 0.91") == "missed"


def test_verdict_directions():
    assert figstats.verdict(0.96, 1.2, ">= 0.95") == "met"
    assert figstats.verdict(0.90, 1.2, ">= 0.95") == "not settled"
    assert figstats.verdict(0.50, 0.94, ">=0.95") == "missed"
    assert figstats.verdict(1.00, 1.04, "<= 1.05") == "met"
    assert figstats.verdict(1.00, 1.06, "<= 1.05") == "not settled"
    assert figstats.verdict(1.06, 1.20, "<= 1.05") == "missed"
    # the same interval, opposite goals, opposite verdicts
    assert figstats.verdict(1.1, 1.2, ">= 1.0") == "met"
    assert figstats.verdict(1.1, 1.2, "<= 1.0") == "missed"


def test_verdict_refusals():
    with pytest.raises(ValueError):
        figstats.verdict(1.2, 1.1, ">= 1.0")
    with pytest.raises(ValueError):
        figstats.verdict(1.0, 1.1, "> 1.0")


def test_bootstrap_is_reproducible_and_independent_of_global_random():
    num = [50.1, 49.0, 56.5, 55.6, 43.0]
    den = [50.2, 51.2, 44.0, 52.5, 47.5]
    random.seed(1)
    a = figstats.bootstrap_ratio_ci(num, den)
    random.seed(2)
    random.random()
    b = figstats.bootstrap_ratio_ci(num, den)
    assert a == b
    # and it is an interval around the ratio of medians (49.0 / 50.2)
    assert a[0] <= figstats.ratio_of_medians(num, den) <= a[1]
    assert a[0] < a[1]


def test_gate_fails_on_a_settled_miss_only():
    # every resample's ratio is 0.5: the interval is [0.5, 0.5], wholly below 0.8
    assert figstats.gate([50] * 5, [100] * 5, 0.8) == (False, "missed", 0.5, (0.5, 0.5))
    # numerator medians 79-81 (a resample of 3 runs has median 79, 80 or 81), denominator 100:
    # the interval is [0.79, 0.81], across 0.8: not settled, and so not a failure
    ok, v, r, (lo, hi) = figstats.gate([80, 81, 79], [100, 100, 100], 0.8)
    assert (ok, v, r) == (True, "not settled", 0.8) and (lo, hi) == (0.79, 0.81)
    # the point estimate 0.79 is under 0.8, but one run of 200 lets resamples reach 2.0
    ok, v, r, (lo, hi) = figstats.gate([79, 200, 1], [100, 100, 100], 0.8)
    assert (ok, v, r) == (True, "not settled", 0.79) and lo == 0.01 and hi == 2.0
    # medians 90-92 against 100: the interval [0.9, 0.92] above 0.8
    assert figstats.gate([90, 91, 92], [100] * 3, 0.8) == (True, "met", 0.91, (0.9, 0.92))
    # 6+6 runs as the 64 KiB cell of a full run (2026-12-03): 0.794, not a settled miss
    ok, v, r, _ = figstats.gate([10.754, 9.089, 12.737, 11.473, 11.867, 13.533],
                                [14.79, 14.92, 9.3, 14.61, 15.51, 14.37], 0.8)
    assert (ok, v, round(r, 3)) == (True, "not settled", 0.794)


def test_point_goal_holds_back_met():
    # "at least 1.0 with the interval above 0.95": [0.96, 1.05] is above 0.95, but a ratio of
    # medians of 0.99 is below 1.0 - not met, and not missed either
    assert figstats.verdict(0.96, 1.05, ">= 0.95", 0.99, ">= 1.0") == "not settled"
    assert figstats.verdict(0.96, 1.05, ">= 0.95", 1.00, ">= 1.0") == "met"
    assert figstats.verdict(0.90, 0.94, ">= 0.95", 0.92, ">= 1.0") == "missed"
    assert figstats.verdict(0.90, 1.05, ">= 0.95", 1.02, ">= 1.0") == "not settled"


def test_bootstrap_of_any_statistic():
    # constant groups: (30 - 10) / (32 - 12) = 1 in every resample
    diff = lambda m: (m[1] - m[0]) / (m[3] - m[2])  # noqa: E731
    assert figstats.bootstrap_ci([[10] * 3, [30] * 3, [12] * 3, [32] * 3], diff) == (1.0, 1.0)
    # two groups with the ratio statistic: the same interval as bootstrap_ratio_ci
    num, den = [9, 9, 11, 11, 11], [10] * 5
    assert figstats.bootstrap_ci([num, den], lambda m: m[0] / m[1]) == \
        figstats.bootstrap_ratio_ci(num, den) == (0.9, 1.1)


def test_paired_compare_takes_out_what_changed_between_pairs():
    # every pair 0.9, while the host got slower and slower: the pairs' ratio is exactly 0.9,
    # the independent resamples of the ratio of medians are not
    num, den = [9.0, 18.0, 36.0, 4.5, 27.0, 45.0], [10.0, 20.0, 40.0, 5.0, 30.0, 50.0]
    p = figstats.paired_compare(num, den, ">= 0.9")
    assert (p["ratio"], p["ci"], p["pairs"], p["verdict"]) == (0.9, [0.9, 0.9], 6, "met")
    assert (p["num"]["median"], p["den"]["median"]) == (22.5, 25.0)
    lo, hi = figstats.bootstrap_ratio_ci(num, den)
    assert lo < 0.6 and hi > 1.4, (lo, hi)


def test_paired_compare_resamples_whole_pairs():
    # two pairs with ratios 0.8 and 1.0: a resample's median is 0.8, 0.9 or 1.0, and both ends
    # come up in 2000 resamples far more often than the 2.5 % tails
    p = figstats.paired_compare([8.0, 30.0], [10.0, 30.0], ">= 0.9")
    assert (p["ratio"], p["ci"], p["verdict"]) == (0.9, [0.8, 1.0], "not settled")
    assert figstats.paired_compare([7.0, 8.0] * 3, [10.0] * 6, ">= 0.9")["verdict"] == "missed"
    # one pair: a point, which settles nothing
    p = figstats.paired_compare([9.5], [10.0], ">= 0.9")
    assert (p["ci"], p["verdict"]) == ([0.95, 0.95], "not settled")


def test_paired_compare_refusals():
    for num, den in (([1.0], [1.0, 2.0]), ([], []), ([1.0, 2.0], [1.0, 0.0])):
        with pytest.raises(ValueError):
            figstats.paired_compare(num, den)


def test_fewer_than_min_n_never_settles():
    # the same point interval, 0.8 against >= 0.95: missed from MIN_N = 6 a side, never before
    assert figstats.MIN_N == 6
    assert figstats.compare([8] * 6, [10] * 6, ">= 0.95")["verdict"] == "missed"
    assert figstats.compare([8] * 6, [10] * 6, "<= 0.85")["verdict"] == "met"
    assert figstats.compare([8] * 5, [10] * 6, "<= 0.85")["verdict"] == "not settled"
    assert figstats.compare([8] * 6, [10] * 5, ">= 0.95")["verdict"] == "not settled"
    assert figstats.paired_compare([8] * 6, [10] * 6, ">= 0.95")["verdict"] == "missed"
    assert figstats.paired_compare([8] * 5, [10] * 5, ">= 0.95")["verdict"] == "not settled"
    assert figstats.verdict(0.8, 0.8, ">= 0.95", n=5) == "not settled"
    assert figstats.verdict(0.8, 0.8, ">= 0.95", n=6) == "missed"
    assert figstats.verdict(0.8, 0.8, ">= 0.95") == "missed"   # no n: the interval alone
