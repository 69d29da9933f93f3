"""Synthetic card transactions: realistic enough to train on, deterministic by seed and date.

* amounts are log-normal, with a scale per merchant category and per customer;
* hour-of-day follows a two-peak daily curve, volume follows the weekday;
* countries, devices and card presence follow fixed mixes; customers have a home country,
  an account age, a 30-day transaction count and average amount;
* about 1-2% of transactions are fraud, drawn from a logistic model of the features (large
  amounts relative to the customer's average, night hours, abroad, far from home, new accounts,
  risky categories, card not present), so a model has real signal to learn.

Knobs (:class:`DriftKnobs`) inject drift from a given day: covariate shift, a new category, a
concept change. Corruption for tests lives in :mod:`tradewind.data.corruption`.

The same (seed, date, options) always gives the same rows, in chunks of bounded size, so a large
day can be streamed without holding it in memory (:func:`iter_day`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from tradewind.data.knobs import DriftKnobs

CATEGORIES = (
    "grocery",
    "restaurants",
    "fuel",
    "travel",
    "electronics",
    "apparel",
    "entertainment",
    "online_gaming",
    "jewelry",
    "health",
)
CATEGORY_WEIGHTS = np.array([0.24, 0.17, 0.12, 0.05, 0.07, 0.1, 0.08, 0.05, 0.02, 0.1])
# Median amount per category (log-normal scale) and the fraud log-odds each one adds.
CATEGORY_MEDIAN = np.array([45.0, 32.0, 50.0, 380.0, 240.0, 70.0, 40.0, 25.0, 520.0, 60.0])
CATEGORY_RISK = np.array([-0.6, -0.4, -0.3, 0.5, 0.9, 0.0, -0.1, 1.0, 1.3, -0.5])

COUNTRIES = ("US", "GB", "DE", "FR", "ES", "IT", "NL", "BR", "IN", "NG", "CA", "MX")
COUNTRY_WEIGHTS = np.array([0.34, 0.12, 0.1, 0.08, 0.06, 0.05, 0.04, 0.05, 0.06, 0.02, 0.05, 0.03])
DEVICES = ("mobile", "desktop", "pos_terminal", "atm")
DEVICE_WEIGHTS = np.array([0.38, 0.17, 0.4, 0.05])
DEVICE_RISK = np.array([0.3, 0.2, -0.5, 0.1])

# Relative volume per hour of day (two peaks: lunch and evening; quiet nights).
HOUR_CURVE = np.array(
    [
        0.8,
        0.5,
        0.35,
        0.3,
        0.3,
        0.45,
        0.9,
        1.6,
        2.4,
        3.0,
        3.4,
        3.9,
        4.6,
        4.4,
        3.8,
        3.6,
        3.9,
        4.5,
        5.2,
        5.4,
        4.8,
        3.6,
        2.4,
        1.4,
    ]
)
HOUR_P = HOUR_CURVE / HOUR_CURVE.sum()
# Relative volume per weekday, Monday first.
WEEKDAY_VOLUME = np.array([0.92, 0.95, 0.97, 1.0, 1.12, 1.18, 1.0])

NEW_CATEGORY = "crypto_exchange"
FRAUD_INTERCEPT = -6.2
CHUNK_ROWS = 250_000


@dataclass(frozen=True)
class _Customers:
    home_country: np.ndarray
    scale: np.ndarray
    created_ordinal: np.ndarray
    activity: np.ndarray


@lru_cache(maxsize=4)
def _customers(seed: int, count: int) -> _Customers:
    rng = np.random.default_rng([seed, 0xC057])
    return _Customers(
        home_country=rng.choice(len(COUNTRIES), size=count, p=COUNTRY_WEIGHTS),
        scale=rng.lognormal(mean=0.0, sigma=0.45, size=count),
        created_ordinal=dt.date(2025, 12, 31).toordinal() - rng.gamma(1.6, 500.0, size=count).astype(np.int64),
        activity=rng.gamma(2.0, 9.0, size=count),
    )


def rows_for_day(day: dt.date, rows_per_day: int) -> int:
    """Row count of a day: the base volume scaled by the weekday curve."""
    return max(1, round(rows_per_day * WEEKDAY_VOLUME[day.weekday()]))


def iter_day(
    day: dt.date,
    *,
    seed: int = 7,
    rows_per_day: int = 20000,
    customers: int = 50000,
    drift: DriftKnobs | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """Yield the transactions of ``day`` in chunks of at most ``chunk_rows`` rows."""
    total = rows_for_day(day, rows_per_day)
    drift = drift if drift is not None and drift.active_on(day) else DriftKnobs()
    pop = _customers(seed, customers)
    # A chunk's rows depend on (seed, day, chunk index) only; the chunk size is fixed by the
    # generator, not by the caller, so any caller sees the same rows.
    for index, start in enumerate(range(0, total, CHUNK_ROWS)):
        rows = min(CHUNK_ROWS, total - start)
        rng = np.random.default_rng([seed, day.toordinal(), index])
        frame = _chunk(rng, day, start, rows, pop, drift)
        for sub in range(0, rows, chunk_rows):
            yield frame.iloc[sub : sub + chunk_rows].reset_index(drop=True)


def generate_day(day: dt.date, **options: object) -> pd.DataFrame:
    """All transactions of ``day`` as one frame (use :func:`iter_day` for large days)."""
    return pd.concat(list(iter_day(day, **options)), ignore_index=True)  # type: ignore[arg-type]


def _chunk(
    rng: np.random.Generator,
    day: dt.date,
    start: int,
    n: int,
    pop: _Customers,
    drift: DriftKnobs,
) -> pd.DataFrame:
    shift = drift.covariate_shift
    cust = rng.integers(0, len(pop.scale), size=n)

    cat_p = CATEGORY_WEIGHTS.copy()
    if shift:
        cat_p[[4, 7]] *= 1 + 2 * shift  # more electronics and online gaming
        cat_p /= cat_p.sum()
    cat = rng.choice(len(CATEGORIES), size=n, p=cat_p)

    hour = rng.choice(24, size=n, p=HOUR_P)
    seconds = hour * 3600 + rng.integers(0, 3600, size=n)
    midnight = np.datetime64(day.isoformat(), "s")
    event_time = (midnight + seconds.astype("timedelta64[s]")).astype("datetime64[ns]")

    abroad_p = 0.06 + 0.25 * shift
    abroad = rng.random(n) < abroad_p
    other = rng.choice(len(COUNTRIES), size=n, p=COUNTRY_WEIGHTS)
    country = np.where(abroad & (other != pop.home_country[cust]), other, pop.home_country[cust])
    abroad = country != pop.home_country[cust]

    dev_p = DEVICE_WEIGHTS.copy()
    if shift:
        dev_p[0] *= 1 + shift
        dev_p /= dev_p.sum()
    device = rng.choice(len(DEVICES), size=n, p=dev_p)
    card_present = (device >= 2) & (rng.random(n) < 0.97)

    amount = CATEGORY_MEDIAN[cat] * pop.scale[cust] * rng.lognormal(0.0, 0.75, size=n) * (1 + shift)
    age_days = np.maximum(day.toordinal() - pop.created_ordinal[cust], 0)
    txn_30d = rng.poisson(pop.activity[cust])
    avg_30d = CATEGORY_MEDIAN.mean() * 0.6 * pop.scale[cust] * rng.lognormal(0.0, 0.15, size=n)
    distance = np.where(abroad, rng.lognormal(7.2, 0.6, size=n), rng.lognormal(2.2, 1.1, size=n)).clip(0.0, 20000.0)

    ratio = np.log1p(amount / np.maximum(avg_30d, 1.0))
    night = (hour <= 5) | (hour >= 23)
    base = (
        FRAUD_INTERCEPT
        + 1.35 * ratio
        + 1.1 * night
        + 0.9 * abroad
        + 0.35 * np.log1p(distance / 100.0)
        + 1.0 * (age_days < 60)
        - 0.25 * np.log1p(txn_30d)
        + CATEGORY_RISK[cat]
        + DEVICE_RISK[device]
        + 0.8 * ~card_present
    )
    if drift.concept_change:
        changed = FRAUD_INTERCEPT + 0.2 + 1.6 * (~night) + 1.2 * (device == 0) + 1.4 * (cat == 0) + 0.6 * ratio
        base = (1 - drift.concept_change) * base + drift.concept_change * changed
    is_fraud = (rng.random(n) < 1.0 / (1.0 + np.exp(-base))).astype(np.int64)

    categories = list(CATEGORIES)
    cat_values = np.array(CATEGORIES, dtype=object)[cat]
    if drift.new_category_share:
        categories.append(NEW_CATEGORY)
        cat_values[rng.random(n) < drift.new_category_share] = NEW_CATEGORY

    ids = np.int64(day.toordinal()) * 10_000_000 + start + np.arange(n, dtype=np.int64)
    order = np.argsort(seconds, kind="stable")
    frame = pd.DataFrame(
        {
            "transaction_id": ids,
            "customer_id": cust.astype(np.int64) + 1,
            "event_time": event_time,  # UTC, stored without a zone
            "amount": np.round(amount, 2),
            "merchant_category": pd.Categorical(cat_values, categories=categories),
            "country": pd.Categorical.from_codes(country, categories=list(COUNTRIES)),
            "device": pd.Categorical.from_codes(device, categories=list(DEVICES)),
            "card_present": card_present,
            "customer_age_days": age_days.astype(np.int64),
            "customer_txn_count_30d": txn_30d.astype(np.int64),
            "customer_avg_amount_30d": np.round(avg_30d, 2),
            "distance_from_home_km": np.round(distance, 2),
            "is_fraud": is_fraud,
        }
    )
    frame = frame.iloc[order].reset_index(drop=True)
    frame["transaction_id"] = ids  # ids stay in time order within the chunk
    return frame
