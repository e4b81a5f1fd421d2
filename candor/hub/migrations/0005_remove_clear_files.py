"""Remove the clear copies of model files that 0004 sealed into blobs (after it committed).

Everything stored under ``models/`` is from before revisions: no row names it any more. Safe to rerun.
"""

from django.db import migrations


def remove_clear_copies(apps, schema_editor):
    from candor.core import objectstore

    for name in list(objectstore.names("models")):
        objectstore.delete(name)


class Migration(migrations.Migration):

    dependencies = [("hub", "0004_revisions")]

    operations = [migrations.RunPython(remove_clear_copies, migrations.RunPython.noop)]
