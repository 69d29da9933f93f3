"""``python -m tradewind <stage> ...``: the one CLI of the lifecycle stages (see tradewind.stages.cli)."""

from tradewind.stages.cli import main

if __name__ == "__main__":
    main()
