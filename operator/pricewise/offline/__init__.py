"""Commands that need no cluster: `plan`, `plan mix` and the trace simulator."""
