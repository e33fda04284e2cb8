"""A data migration that stays inside the module: its own table, its own historical models."""

from django.db import migrations

FORWARD = """
UPDATE fixture_clean_account SET lender_id = lender_id;
CREATE FUNCTION fixture_clean_touch() RETURNS trigger AS $$
BEGIN
    UPDATE fixture_clean_savingsaccount SET rate = rate;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""
# Only mentioned in text: 'fixture_lender_loan' is a string literal, not a table.
REVERSE = (
    "SELECT 'fixture_lender_loan'; -- fixture_lender_loan\nDROP FUNCTION fixture_clean_touch();"
)


def accounts_touch(apps, schema_editor):
    account_model = apps.get_model("fixture_clean", "Account")
    user_model = apps.get_model("accounts", "User")
    account_model.objects.filter(owner__in=user_model.objects.filter(is_active=False)).count()


def accounts_reset(apps, schema_editor):
    # Its own table, and another module's only inside a string literal and a comment.
    schema_editor.execute(
        "UPDATE FIXTURE_CLEAN_ACCOUNT SET lender_id = lender_id "
        "WHERE 'fixture_lender_loan' <> '' -- fixture_lender_loan"
    )


class Migration(migrations.Migration):
    dependencies = [("fixture_clean", "0001_initial")]

    operations = [
        migrations.RunSQL(FORWARD, REVERSE),
        migrations.RunPython(accounts_touch, accounts_reset),
    ]
