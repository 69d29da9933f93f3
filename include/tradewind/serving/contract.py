"""The model server's public contract: what clients, the canary and the drift check rely on.

Paths, headers, metric names and buckets live here, in one place, so the server
(``tradewind.serving.app``), the canary's SLO checks (``tradewind.canary``), the Airflow
trigger that polls ``/metrics`` and the tests cannot drift apart.

Predict (KServe V1-compatible request body, so one load generator drives either server)::

    POST /predict   {"instances": [{<raw record: the dataset spec's feature columns>}, ...]}
    200 -> {"predictions": [0.0123, ...], "variant": "champion"|"challenger",
            "model_version": "3", "request_id": "..."}
           (a binary data set's; multiclass: [{"class": "mid", "probabilities": {"low": 0.1, ...}}, ...];
           regression: the values: ``tradewind.serving.responses``)
    422 -> {"detail": [{"loc": ["body", "instances", 0, "amount"], "msg": "...", "type": "..."}]}
    413 -> body larger than ``max_body_bytes`` or more than ``max_batch_rows`` instances
    503 -> overloaded (``Retry-After: <seconds>``): more work in flight than ``admission`` allows;
           or no champion loaded yet

Admission: at most ``admission.max_inflight_requests`` requests holding at most
``admission.max_inflight_records`` records are scored at once; beyond that a request is answered
503 with ``Retry-After`` at once and counted in ``tradewind_requests_shed_total{variant}``. The
probes and ``/metrics`` never wait for admission.

Routing: the request's routing key is the ``X-Tradewind-Entity`` header, else the first
instance's entity column (the spec's ``role: key`` column, e.g. ``customer_id``), else the request
id. ``bucket(key) < challenger_percent`` sends the request to the challenger, so one entity always
sees one variant for a given split. In shadow mode the champion answers and the challenger scores
a copy (recorded in the challenger's metrics, never returned).

Admin (``Authorization: Bearer <token>``; the token comes from the environment variable named by
``ADMIN_TOKEN_ENV``; without a configured token the admin endpoints answer 503)::

    GET  /admin/traffic  -> {"challenger_percent": 10, "shadow": false,
                             "champion": {"version": "3"}, "challenger": {"version": "4"} | null}
    PUT  /admin/traffic  {"challenger_percent": 0..100, "shadow": false}  -> same shape as GET
                         409 when challenger_percent > 0 (or shadow) and no challenger is loaded
    POST /admin/reload   re-read the aliases now -> same shape as GET
"""

from __future__ import annotations

import hashlib
from typing import Final

CHAMPION: Final = "champion"
CHALLENGER: Final = "challenger"
VARIANTS: Final = (CHAMPION, CHALLENGER)

PREDICT_PATH: Final = "/predict"
TRAFFIC_PATH: Final = "/admin/traffic"
RELOAD_PATH: Final = "/admin/reload"
METRICS_PATH: Final = "/metrics"
HEALTH_PATH: Final = "/healthz"
READY_PATH: Final = "/readyz"

ENTITY_HEADER: Final = "X-Tradewind-Entity"
REQUEST_ID_HEADER: Final = "X-Request-ID"
VARIANT_HEADER: Final = "X-Tradewind-Variant"
RETRY_AFTER_HEADER: Final = "Retry-After"
ADMIN_TOKEN_ENV: Final = "TRADEWIND_SERVING_ADMIN_TOKEN"  # noqa: S105 (the variable's name, not a secret)

# Prometheus series, each labelled ``variant`` (champion | challenger).
REQUESTS_TOTAL: Final = "tradewind_requests_total"  # requests a variant answered (or shadow-scored)
ERRORS_TOTAL: Final = "tradewind_request_errors_total"  # of those, the ones its model failed on
LATENCY_SECONDS: Final = "tradewind_request_latency_seconds"  # histogram: model time per request
SCORE: Final = "tradewind_score"  # histogram: every score (multiclass: predicted class's probability; regression: none)
ROWS_TOTAL: Final = "tradewind_rows_total"  # records scored
# Requests refused by admission control (answered 503 + Retry-After, never scored): not in
# REQUESTS_TOTAL or ERRORS_TOTAL. Labelled with the variant the request was routed to.
SHED_TOTAL: Final = "tradewind_requests_shed_total"
INFERENCE_LOG_DROPPED: Final = "tradewind_inference_log_dropped_total"  # records the log could not keep

# On KServe every revision serves one version and its series say variant="champion"; Prometheus adds
# the pod's Knative revision under this label (tradewind.k8s.serving_runtime.pod_monitor_spec), and
# the canary tells the variants apart by revision (tradewind.canary.metrics_source).
REVISION_LABEL: Final = "revision"

LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip
# Fraud scores crowd near 0: log-spaced edges keep the PSI between variants sensitive there.
SCORE_BUCKETS: Final = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)


def bucket(key: str) -> int:
    """A stable bucket in [0, 100) for a routing key (the same in every process and restart)."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 100
