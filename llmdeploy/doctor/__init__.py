"""`llmdeploy doctor`: before anything is created, what would fail on this account.

`needs` computes from the plan what an environment asks of a cloud at max capacity (pure);
`aws`, `gcp` and `azure` compare it with the account's quotas, addresses, resource providers and
secrets, each importing its own SDK; `secrets` judges a secret's value without ever showing it.
"""
