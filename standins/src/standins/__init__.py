"""Offline stand-ins for Slack and Trello: real HTTP servers that record what they receive.

Run with `python -m standins slack` or `python -m standins trello`.
"""
