"""The canary: roll a challenger out stage by stage (10% -> 50% -> 100%) and judge each stage on SLOs.

The Airflow layer moves the traffic and waits; everything it decides with lives here, as pure
functions over the model server's metrics and ``include/config/canary.yaml``:

- :mod:`~tradewind.canary.config`: ``canary.yaml`` (stages, bake time, SLO limits) and its loader;
- :mod:`~tradewind.canary.snapshots`: ``/metrics`` per variant, and the difference of two snapshots;
- :mod:`~tradewind.canary.statistics`: histogram quantiles (as PromQL) and the population stability index;
- :mod:`~tradewind.canary.verdict`: one stage's verdict: error rate, p99 latency, score PSI, breaches;
- :mod:`~tradewind.canary.metrics_source`: where a stage's metrics are read (the server's ``/metrics``
  or Prometheus on KServe), as queries and readers; the caller does the I/O.

The metric names and labels come from :mod:`tradewind.serving.contract`; nothing in
:mod:`tradewind.serving` imports the canary.
"""
