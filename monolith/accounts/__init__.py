"""Identity: the one user model every deployable authenticates against."""
