"""The stage layer: one module per lifecycle step, each a typed function with a JSON-able outcome.

Every stage is also a command of one CLI, ``python -m tradewind <stage>`` (:mod:`tradewind.stages.cli`),
the same in a subprocess of the Airflow worker, in a pod, in a test or in a shell. The Airflow layer
(``plugins/tradewind_airflow``) only resolves connections, calls a stage (in process, as the CLI in a
subprocess, or in a pod) and turns its outcome into XCom, an Asset event or a skip.

=========  ==========================  ======================  ==========================================
stage      CLI                         runs                    outcome
=========  ==========================  ======================  ==========================================
ingest     ``tradewind ingest``        worker                  the raw partition's lineage
validate   ``tradewind validate``      subprocess or pod       pass (lineage) or quarantine (exit 3)
plan       ``tradewind plan``          worker                  the window, data hash, governance, folder
train      ``tradewind train``         subprocess, pod, Job    the model folder and its summary
promote    ``tradewind promote``       worker                  version, gate verdict, alias moves
drift      ``tradewind drift``         subprocess or pod       the drift event's facts and the report
rollback   ``tradewind rollback``      worker                  the champion before and after
=========  ==========================  ======================  ==========================================

The canary's verdict is :mod:`tradewind.canary.verdict` (judged in the Airflow operator after each
deferred bake). ``docs/architecture.md`` walks one partition through all of them.
"""
