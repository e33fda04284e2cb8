"""The database itself refuses to change or delete a ledger entry: history is append-only.

Row triggers do not fire on TRUNCATE, so test databases can still be emptied between tests.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION users_ledgerentry_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'users_ledgerentry is append-only: % refused; write a new entry instead', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER users_ledgerentry_append_only
    BEFORE UPDATE OR DELETE ON users_ledgerentry
    FOR EACH ROW EXECUTE FUNCTION users_ledgerentry_refuse_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS users_ledgerentry_append_only ON users_ledgerentry;
DROP FUNCTION IF EXISTS users_ledgerentry_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("users", "0001_initial")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
