"""Drop the tables of waffle's own flag model, which ``WAFFLE_FLAG_MODEL`` swaps out.

waffle's migrations predate its swappable flag model and create ``waffle_flag`` and its two
many-to-many tables whatever the setting (django-waffle issue #338). Nothing reads them here,
and ``waffle_flag_users`` holds a foreign key to the accounts table that stops ``flush`` (and
every test that empties the database) from truncating it.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("cohorts", "0001_routing_flags_and_changes"),
        ("waffle", "0004_update_everyone_nullbooleanfield"),
    ]

    operations = [
        migrations.RunSQL(
            "DROP TABLE IF EXISTS waffle_flag_users, waffle_flag_groups, waffle_flag",
            # Going back leaves them gone: the flags live in cohorts_routingflag.
            reverse_sql=migrations.RunSQL.noop,
        )
    ]
