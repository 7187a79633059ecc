"""The operator: kopf handlers feed a cache; each scheduling cycle solves, admits, follows
placed jobs, accounts and exports metrics."""
