import candor.privacy.crypto
from django.db import migrations


def encrypt_existing(apps, schema_editor):
    """Encrypt the token names stored in clear before this migration (safe to run again: a name already
    encrypted is left as it is)."""
    from candor.privacy import crypto

    ApiToken = apps.get_model("api", "ApiToken")
    for pk, user_id, name in ApiToken.objects.values_list("pk", "user_id", "name"):
        if not crypto.is_encrypted(name):
            context = crypto.associated_data("api.ApiToken", "name", user_id)
            ApiToken.objects.filter(pk=pk).update(name=crypto.encrypt(name, user_id=user_id, context=context))


def decrypt_existing(apps, schema_editor):
    from candor.privacy import crypto

    ApiToken = apps.get_model("api", "ApiToken")
    for pk, user_id, name in ApiToken.objects.values_list("pk", "user_id", "name"):
        if crypto.is_encrypted(name):
            clear = crypto.decrypt(name, context=crypto.associated_data("api.ApiToken", "name", user_id))
            ApiToken.objects.filter(pk=pk).update(name=clear[:100])


class Migration(migrations.Migration):

    dependencies = [
        ("api", "0001_api_tokens"),
        ("privacy", "0001_data_keys"),
    ]

    operations = [
        migrations.AlterField(
            model_name="apitoken",
            name="name",
            field=candor.privacy.crypto.EncryptedTextField(key_owner="user_id"),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing, elidable=True),
    ]
