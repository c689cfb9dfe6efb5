# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""figstats: the statistics of the published figures (standard library only).

From the raw per-run samples of tools/bench/reproduce:

  summary(xs)                    n, median, quartiles (IQR) and min-max of one tool's runs
  ratio_of_medians(num, den)     median(num) / median(den)
  bootstrap_ratio_ci(num, den)   a percentile bootstrap interval of that ratio: both samples
                                 resampled independently with replacement, RESAMPLES times,
                                 from random.Random(SEED) - fixed, so the same raw files give
                                 the same interval, byte for byte, on every regeneration
  bootstrap_ci(groups, stat)     the same for any statistic of several samples' medians
  verdict(lo, hi, goal)          a cell against its goal: "met" only when the whole interval is
                                 on the right side of the target, "missed" when it is wholly
                                 on the wrong side, "not settled" when it straddles the target
  compare(num, den, goal)        all of the above for one cell
  paired_compare(num, den, goal) the same for runs made in pairs, side by side (num[i] next to
                                 den[i]): the median of the pairs' ratios, its interval
                                 resampling pairs, so that what changed between pairs (the
                                 host's load, say) drops out of each ratio

Goals are strings: ">= 0.95" (higher is better) or "<= 1.05" (lower is better). A bound equal
to the target counts as on the right side (">= 0.95" is met by [0.95, 1.2]). A cell with fewer
than MIN_N samples on a side (runs, pairs, boots) is "not settled" whatever its interval: below
six, the chance that a sample's whole range misses the true median (2 * 0.5**n) is above 5 %,
so a percentile interval of a median is narrower than its 95 % label says.

Quantiles interpolate linearly between order statistics (the "inclusive" method of
statistics.quantiles, numpy's default): for sorted x[0..n-1] the q-quantile is at position
q * (n - 1).
"""

import math
import random

SEED = 20261202
RESAMPLES = 2000
LEVEL = 0.95
VERDICTS = ("met", "missed", "not settled")
MIN_N = 6


def _sorted(xs):
    s = sorted(float(x) for x in xs)
    if not s:
        raise ValueError("no samples")
    for x in s:
        if math.isnan(x) or math.isinf(x):
            raise ValueError(f"not a finite sample: {x}")
    return s


def quantile(xs, q):
    """The q-quantile (0 <= q <= 1) of xs, linear between order statistics."""
    if not 0 <= q <= 1:
        raise ValueError(f"quantile {q} outside [0, 1]")
    s = _sorted(xs)
    pos = q * (len(s) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def median(xs):
    return quantile(xs, 0.5)


def summary(xs):
    """n, median, q1, q3, iqr, min, max of one sample."""
    s = _sorted(xs)
    q1, q3 = quantile(s, 0.25), quantile(s, 0.75)
    return {"n": len(s), "median": quantile(s, 0.5), "q1": q1, "q3": q3, "iqr": q3 - q1,
            "min": s[0], "max": s[-1]}


def ratio_of_medians(num, den):
    d = median(den)
    if d == 0:
        raise ValueError("the denominator's median is 0")
    return median(num) / d


def bootstrap_ci(groups, statistic, level=LEVEL, resamples=RESAMPLES, seed=SEED):
    """(lo, hi): the central `level` percentile interval of statistic(medians) over
    `resamples` bootstrap resamples, where medians[i] is the median of a resample (with
    replacement, same size) of groups[i], each group drawn independently, in order, from
    random.Random(seed)."""
    if not 0 < level < 1:
        raise ValueError(f"level {level} outside (0, 1)")
    sorted_groups = [_sorted(g) for g in groups]
    rng = random.Random(seed)
    values = []
    for _ in range(resamples):
        meds = []
        for s in sorted_groups:
            n = len(s)
            meds.append(median([s[int(rng.random() * n)] for _ in range(n)]))
        values.append(statistic(meds))
    tail = (1 - level) / 2
    return quantile(values, tail), quantile(values, 1 - tail)


def _ratio(meds):
    if meds[1] == 0:
        raise ValueError("a resampled denominator's median is 0")
    return meds[0] / meds[1]


def bootstrap_ratio_ci(num, den, level=LEVEL, resamples=RESAMPLES, seed=SEED):
    """(lo, hi): the central `level` percentile interval of median(num*)/median(den*) over
    `resamples` bootstrap resamples (num* and den* drawn independently, with replacement)."""
    return bootstrap_ci([num, den], _ratio, level, resamples, seed)


def parse_goal(goal):
    """'>= 0.95' -> ('>=', 0.95); '<= 1.05' -> ('<=', 1.05)."""
    g = goal.replace(" ", "")
    for op in (">=", "<="):
        if g.startswith(op):
            return op, float(g[len(op):])
    raise ValueError(f"goal {goal!r}: want '>= X' or '<= X'")


def _holds(x, goal):
    op, target = parse_goal(goal)
    return x >= target if op == ">=" else x <= target


def verdict(lo, hi, goal, point=None, point_goal=None, n=None):
    """met / missed / not settled for the interval [lo, hi] against goal ('>= X' or '<= X').
    With point and point_goal (e.g. the ratio of medians and '>= 1.0' for "at least 1.0 with
    the interval above 0.95"), "met" also needs the point to hold its goal; an interval on the
    right side with a point that does not is "not settled". n: the smallest sample behind the
    interval; under MIN_N the verdict is "not settled"."""
    if lo > hi:
        raise ValueError(f"interval [{lo}, {hi}] is reversed")
    if n is not None and n < MIN_N:
        return "not settled"
    if _holds(lo, goal) and _holds(hi, goal):
        if point_goal is not None and not _holds(point, point_goal):
            return "not settled"
        return "met"
    if not _holds(lo, goal) and not _holds(hi, goal):
        return "missed"
    return "not settled"


def compare(num, den, goal=None, level=LEVEL, resamples=RESAMPLES, seed=SEED):
    """One cell: the two samples' summaries, the ratio of medians, its interval and verdict."""
    lo, hi = bootstrap_ratio_ci(num, den, level, resamples, seed)
    out = {"num": summary(num), "den": summary(den), "ratio": ratio_of_medians(num, den),
           "ci": [lo, hi], "level": level, "resamples": resamples, "seed": seed}
    if goal is not None:
        out["goal"] = goal
        out["verdict"] = verdict(lo, hi, goal, n=min(len(num), len(den)))
    return out


def paired_compare(num, den, goal=None, level=LEVEL, resamples=RESAMPLES, seed=SEED):
    """One cell of paired runs: num[i] was run next to den[i]. The ratio is the median of the
    pairs' ratios num[i] / den[i]; the interval resamples whole pairs (fewer than MIN_N
    pairs: "not settled")."""
    if len(num) != len(den) or not num:
        raise ValueError(f"{len(num)} and {len(den)} runs are not pairs")
    if any(d == 0 for d in den):
        raise ValueError("a denominator run is 0")
    ratios = [n / d for n, d in zip(num, den)]
    lo, hi = bootstrap_ci([ratios], lambda meds: meds[0], level, resamples, seed)
    out = {"num": summary(num), "den": summary(den), "pairs": len(ratios),
           "ratio": median(ratios), "ci": [lo, hi], "level": level, "resamples": resamples,
           "seed": seed}
    if goal is not None:
        out["goal"] = goal
        out["verdict"] = verdict(lo, hi, goal, n=len(ratios))
    return out


def gate(num, den, minimum, level=LEVEL, resamples=RESAMPLES, seed=SEED):
    """A regression gate: (passed, verdict, ratio of medians, (lo, hi)), the verdict of the
    interval against '>= minimum' whatever the number of runs. It fails only on "missed": the
    whole interval below `minimum`, a slowdown its runs settle. An interval that straddles
    `minimum` passes as "not settled": under TCG the two tools' medians move by tens of
    percent from boot to boot, and a gate on the point estimate failed boots in which nothing
    on the measured path had changed (tools/bench/README.md, "The gate")."""
    lo, hi = bootstrap_ratio_ci(num, den, level, resamples, seed)
    v = verdict(lo, hi, f">= {minimum}")
    return v != "missed", v, ratio_of_medians(num, den), (lo, hi)
