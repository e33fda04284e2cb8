import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person who signs in: rider, fleet staff or migration team (roles are groups).

    The id is a UUID because modules refer to people by id across process boundaries;
    a rider's id in trips and billing is this id.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        db_table = "accounts_user"
        verbose_name = "user"
        verbose_name_plural = "users"
