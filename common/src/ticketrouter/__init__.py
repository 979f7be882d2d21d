"""Shared library of the priority ticket router.

Owns the ticket model, configuration, logging, queue provisioning and the SQS
consumer loop. Services import the module they need; nothing heavy is imported here.
"""
