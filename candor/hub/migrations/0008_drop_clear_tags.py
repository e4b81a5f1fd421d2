# The shared Tag table goes: each model's tags are in its encrypted list, and a public model's are in
# its projection. A private model's tag words no longer sit in clear in a table every backup copies.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('hub', '0007_encrypt_existing_content'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='mlmodel',
            name='tags',
        ),
        migrations.DeleteModel(
            name='Tag',
        ),
        migrations.RenameField(
            model_name='mlmodel',
            old_name='tag_list',
            new_name='tags',
        ),
        migrations.AddConstraint(
            model_name='mlmodel',
            constraint=models.UniqueConstraint(models.F('owner'), models.F('name_index'), name='hub_model_owner_name_index_unique'),
        ),
    ]
