"""Events the users module publishes."""
