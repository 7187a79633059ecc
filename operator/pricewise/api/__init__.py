"""The pricewise API: pydantic models (the one source of the CRDs), manifest loading, and
conversion of API objects to the core's plain data."""
