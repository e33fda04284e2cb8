"""Trips: request, vehicle assignment, start, live position, completion, cancellation."""
