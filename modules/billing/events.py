"""Events the billing module publishes."""
