"""The platform every fleet module stands on: errors, access, REST plumbing, observability."""
