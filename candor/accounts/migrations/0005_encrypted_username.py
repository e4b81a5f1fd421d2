import candor.accounts.validators
import candor.privacy.crypto
from django.db import migrations, models


def encrypt_existing(apps, schema_editor):
    """Encrypt the usernames stored in clear before this migration, and index them.

    Safe to run again: a name already encrypted is left as it is (its index is filled if missing).
    The clear values are gone from the table; on PostgreSQL their old row versions stay in the table's
    files until it is rewritten, so run ``candor privacy rewrite`` after this migration.
    """
    from candor.privacy import crypto

    User = apps.get_model("accounts", "User")
    for pk, username, index in User.objects.values_list("pk", "username", "username_index"):
        context = crypto.associated_data("accounts.User", "username", pk)
        if crypto.is_encrypted(username):
            if index is None:
                clear = crypto.decrypt(username, context=context)
                if not isinstance(clear, crypto.Unreadable):
                    User.objects.filter(pk=pk).update(username_index=crypto.blind_index("username", clear))
            continue
        User.objects.filter(pk=pk).update(
            username=crypto.encrypt(username, user_id=pk, context=context),
            username_index=crypto.blind_index("username", username),
        )


def decrypt_existing(apps, schema_editor):
    """Back to clear names, for a migration backwards (an account whose key is gone cannot go back)."""
    from candor.privacy import crypto

    User = apps.get_model("accounts", "User")
    for pk, username in User.objects.values_list("pk", "username"):
        if crypto.is_encrypted(username):
            clear = crypto.decrypt(username, context=crypto.associated_data("accounts.User", "username", pk))
            if isinstance(clear, crypto.Unreadable):
                raise RuntimeError(f"The username of account {pk} cannot be decrypted: its data key is gone.")
            User.objects.filter(pk=pk).update(username=clear)


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0004_security_events"),
        ("privacy", "0004_audit_events"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="user",
            name="accounts_user_username_ci_unique",
        ),
        migrations.AddField(
            model_name="user",
            name="username_index",
            field=models.CharField(editable=False, max_length=64, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name="user",
            name="username",
            field=candor.privacy.crypto.EncryptedTextField(
                key_owner="pk", unique=True, validators=[candor.accounts.validators.validate_username]
            ),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing, elidable=True),
        migrations.AlterField(
            model_name="user",
            name="username_index",
            field=models.CharField(editable=False, max_length=64, unique=True),
        ),
    ]
