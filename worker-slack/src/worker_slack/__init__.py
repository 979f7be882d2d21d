"""High-priority tickets → a Slack channel. Run with `python -m worker_slack`."""
