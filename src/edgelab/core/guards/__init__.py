"""Request guards every route shares: the body-size cap and access to /metrics."""
