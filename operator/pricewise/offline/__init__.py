"""Commands that need no live cluster: `plan`, `plan mix`, `prices init|import|diff` and the
trace simulator."""
