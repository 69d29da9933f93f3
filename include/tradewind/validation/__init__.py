"""Data validation with Great Expectations 1.x: suites from dataset specs, the runner, quarantine."""
