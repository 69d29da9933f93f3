"""Monitoring: drift of the inference log against the champion's reference, and performance drift.

* :mod:`~tradewind.monitoring.config`: the ``drift:`` section of a dataset spec (its models live with the spec
  in :mod:`tradewind.data.drift_spec`: methods and thresholds per column type, per-column overrides, sample
  sizes, prediction and performance settings);
* :mod:`~tradewind.monitoring.reference`: the reference sample stored with a model version;
* :mod:`~tradewind.monitoring.window`: a bounded window of the inference log;
* :mod:`~tradewind.monitoring.drift`: the Evidently check, its result, HTML report and JSON summary;
* :mod:`~tradewind.monitoring.performance`: labels joined to the log, PR-AUC / ROC-AUC vs the champion.

This package's ``__init__`` stays import-free: Evidently is only imported when a check runs. The drift
stage (:mod:`tradewind.stages.drift`) runs a check for the champion and records it in the registry.
"""
