"""Events the vehicles module publishes."""
