"""Medium-priority tickets → Trello cards. Run with `python -m worker_trello`."""
