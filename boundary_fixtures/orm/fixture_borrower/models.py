"""Every way a model can reach into another module's tables; each is planted on purpose.

A ``# planted: <rule>`` comment stands on the line above each violation the checks must report.
"""

import uuid

from django.contrib.contenttypes.fields import GenericForeignKey, GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models

from boundary_fixtures.orm.fixture_lender.models import Loan


class LenderLinked(models.Model):
    # planted: fk-cross-module
    lender = models.ForeignKey("fixture_lender.Lender", on_delete=models.PROTECT)

    class Meta:
        abstract = True


class Application(LenderLinked):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    def __str__(self) -> str:
        return str(self.pk)


class Guarantee(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # planted: fk-cross-module
    loan = models.OneToOneField("fixture_lender.Loan", on_delete=models.CASCADE)

    def __str__(self) -> str:
        return str(self.pk)


class Portfolio(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # planted: fk-cross-module
    loans = models.ManyToManyField("fixture_lender.Loan")

    def __str__(self) -> str:
        return str(self.pk)


class Syndicate(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # planted: fk-cross-module
    lenders = models.ManyToManyField("fixture_lender.Lender", through="Membership")

    def __str__(self) -> str:
        return str(self.pk)


class Membership(models.Model):
    syndicate = models.ForeignKey(Syndicate, on_delete=models.CASCADE)
    # planted: fk-cross-module
    lender = models.ForeignKey("fixture_lender.Lender", on_delete=models.CASCADE)

    def __str__(self) -> str:
        return str(self.pk)


# planted: fk-cross-module
class PriorityLoan(Loan):
    rank = models.PositiveIntegerField()

    def __str__(self) -> str:
        return str(self.pk)


class Dossier(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # planted: generic-fk-cross-module
    notes = GenericRelation("fixture_lender.Note")

    def __str__(self) -> str:
        return str(self.pk)


class Tag(models.Model):
    # planted: generic-fk-cross-module
    content_type = models.ForeignKey(
        ContentType,
        on_delete=models.CASCADE,
        limit_choices_to={"app_label": "fixture_lender", "model": "loan"},
    )
    object_id = models.UUIDField()
    tagged = GenericForeignKey("content_type", "object_id")

    def __str__(self) -> str:
        return str(self.pk)
