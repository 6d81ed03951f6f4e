"""Nothing left behind (issue #28 item 3; docs/backend.md "Cleanup").

One pass (run.py) removes, on every registered Environment's target (grouped by cluster),
expired session Secrets and the ServiceAccounts and bindings of idle identities, and on
mgmt the Promotions and AccessRequests finished longer ago than their retention and the
Events beyond their bound. The worker room runs it periodically, one replica at a time
(wiring.py); `python -m scipian_backend cleanup` runs one pass (cli.py). The decisions are
pure functions of the objects and a clock (rules.py).
"""
