"""Services peeled off the monolith: extracted/README.md."""
