"""The same shapes as the borrower's, kept inside the module: ids across the boundary."""

import uuid

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models


class Owned(models.Model):
    # Identity is the platform's: a key to the user model is allowed.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)

    class Meta:
        abstract = True


class Account(Owned):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lender_id = models.UUIDField()

    def __str__(self) -> str:
        return str(self.pk)


class Statement(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    account = models.OneToOneField(Account, on_delete=models.CASCADE)
    remarks = GenericRelation("fixture_clean.Remark")

    def __str__(self) -> str:
        return str(self.pk)


class Club(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    accounts = models.ManyToManyField(Account, through="Seat")
    statements = models.ManyToManyField(Statement)

    def __str__(self) -> str:
        return str(self.pk)


class Seat(models.Model):
    club = models.ForeignKey(Club, on_delete=models.CASCADE)
    account = models.ForeignKey(Account, on_delete=models.CASCADE)

    def __str__(self) -> str:
        return str(self.pk)


class SavingsAccount(Account):
    rate = models.DecimalField(max_digits=5, decimal_places=2)

    def __str__(self) -> str:
        return str(self.pk)


class Remark(models.Model):
    content_type = models.ForeignKey(
        ContentType,
        on_delete=models.CASCADE,
        limit_choices_to={"app_label": "fixture_clean", "model__in": ("statement", "account")},
    )
    object_id = models.UUIDField()
    subject = GenericForeignKey("content_type", "object_id")

    def __str__(self) -> str:
        return str(self.pk)
