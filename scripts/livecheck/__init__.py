"""The checks of `make check-live`, one module per service the router talks to."""
