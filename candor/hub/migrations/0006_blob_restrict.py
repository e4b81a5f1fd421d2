"""A file's link to its blob is RESTRICT rather than PROTECT: deleting an account whole takes its files
and its blobs in one go (PROTECT refused it), while a blob a revision holds still cannot be removed alone.
Django enforces both in Python: the database's constraint is unchanged."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [("hub", "0005_remove_clear_files")]

    operations = [
        migrations.AlterField(
            model_name="modelfile",
            name="blob",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.RESTRICT, related_name="entries", to="hub.blob"
            ),
        ),
    ]
