"""A data migration that writes the lender's table: SQL and historical models alike.

A ``# planted: <rule>`` comment stands on the line above each violation the checks must report.
"""

from django.db import migrations

FORWARD = """
UPDATE fixture_borrower_guarantee SET loan_id = loan_id;
-- planted: migration-foreign-table
UPDATE "fixture_lender_loan" SET amount = amount WHERE amount > 0;
"""


def loans_touch(apps, schema_editor):
    # planted: migration-foreign-table
    loan_model = apps.get_model("fixture_lender", "Loan")
    loan_model.objects.filter(amount__lt=0).update(amount=0)


def loans_purge(apps, schema_editor):
    # Raw SQL from Python names tables too; unquoted names fold to lower case.
    # planted: migration-foreign-table
    schema_editor.execute("UPDATE FIXTURE_LENDER_LOAN SET amount = 0 WHERE amount < 0")
    schema_editor.execute("UPDATE fixture_borrower_guarantee SET loan_id = loan_id")
    with schema_editor.connection.cursor() as cursor:
        # planted: migration-foreign-table
        cursor.execute("DELETE FROM fixture_lender_note WHERE text = 'fixture_lender_lender'")


class Migration(migrations.Migration):
    dependencies = [("fixture_borrower", "0001_initial")]

    operations = [
        migrations.RunSQL(FORWARD, migrations.RunSQL.noop),
        migrations.RunPython(loans_touch, migrations.RunPython.noop),
        migrations.RunPython(migrations.RunPython.noop, loans_purge),
    ]
