"""The steps of `make deploy-aws` and friends (scripts/deploy_aws.py is the command)."""
