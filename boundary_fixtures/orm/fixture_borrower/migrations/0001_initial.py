"""The borrower's tables, written the way makemigrations writes them for its models.

A ``# planted: <rule>`` comment stands on the line above each violation the checks must report.
"""

import uuid

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        # planted: migration-cross-dependency
        ("fixture_lender", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="Application",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "lender",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        # planted: migration-foreign-table
                        to="fixture_lender.lender",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="Dossier",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="Guarantee",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                (
                    "loan",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        # planted: migration-foreign-table
                        to="fixture_lender.loan",
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="Portfolio",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                # planted: migration-foreign-table
                ("loans", models.ManyToManyField(to="fixture_lender.loan")),
            ],
        ),
        migrations.CreateModel(
            name="Syndicate",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="Membership",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "lender",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        # planted: migration-foreign-table
                        to="fixture_lender.lender",
                    ),
                ),
                (
                    "syndicate",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, to="fixture_borrower.syndicate"
                    ),
                ),
            ],
        ),
        migrations.AddField(
            model_name="syndicate",
            name="lenders",
            field=models.ManyToManyField(
                through="fixture_borrower.Membership",
                # planted: migration-foreign-table
                to="fixture_lender.lender",
            ),
        ),
        migrations.CreateModel(
            name="PriorityLoan",
            fields=[
                (
                    "loan_ptr",
                    models.OneToOneField(
                        auto_created=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        parent_link=True,
                        primary_key=True,
                        serialize=False,
                        # planted: migration-foreign-table
                        to="fixture_lender.loan",
                    ),
                ),
                ("rank", models.PositiveIntegerField()),
            ],
            bases=("fixture_lender.loan",),
        ),
        migrations.CreateModel(
            name="Tag",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("object_id", models.UUIDField()),
                (
                    "content_type",
                    models.ForeignKey(
                        limit_choices_to={"app_label": "fixture_lender", "model": "loan"},
                        on_delete=django.db.models.deletion.CASCADE,
                        to="contenttypes.contenttype",
                    ),
                ),
            ],
        ),
    ]
