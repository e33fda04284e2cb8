"""Cohort routing: per user, which side serves a module's requests while it is peeled off.

The front door is ``monolith.cohorts.routing``; the migration team's tools are
``manage.py cohort`` and the admin's "Cohort routing" page. See docs/cohort-routing.md.
"""
