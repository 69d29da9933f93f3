"""Developer tooling around real Airflow on this machine: the local stack, ``make demo`` and its parts.

Not part of the Airflow layer (``tradewind_airflow``) nor of the Airflow-free core (``tradewind``):
nothing here runs inside Airflow. It drives Airflow through its CLI and REST API and never imports it.

- :mod:`tradewind_dev.stack`: start, watch and stop the components (``python -m tradewind_dev.stack stop``);
- :mod:`tradewind_dev.pipeline`: ingest -> validate -> train, triggered and followed run by run;
- :mod:`tradewind_dev.model_server`: the model server as a child process;
- :mod:`tradewind_dev.retrain_loop`: served champion -> drift -> retrain -> canary;
- :mod:`tradewind_dev.demo`: ``make demo`` (``python -m tradewind_dev.demo``), which runs them in turn.
"""
