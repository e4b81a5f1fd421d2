# The model's words are encrypted under its owner's data key (clause C25); public models get a public
# projection. This migration adds the new columns; 0005 fills them, 0006 drops what they replace.

import candor.hub.validators
import candor.privacy.crypto
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from candor.hub.choices import LIBRARIES, LICENSES, TASKS


class Migration(migrations.Migration):

    dependencies = [
        ('hub', '0005_remove_clear_files'),
        ('privacy', '0001_data_keys'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='mlmodel',
            name='hub_model_owner_name_ci_unique',
        ),
        migrations.RemoveIndex(
            model_name='mlmodel',
            name='hub_model_vis_name',
        ),
        migrations.AddField(
            model_name='mlmodel',
            name='name_index',
            field=models.CharField(default='', editable=False, max_length=64),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name='mlmodel',
            name='card',
            field=candor.privacy.crypto.EncryptedTextField(blank=True, help_text='The model card, in Markdown.', key_owner='owner_id'),
        ),
        migrations.AlterField(
            model_name='mlmodel',
            name='name',
            field=candor.privacy.crypto.EncryptedTextField(key_owner='owner_id', validators=[candor.hub.validators.validate_model_name]),
        ),
        migrations.AlterField(
            model_name='mlmodel',
            name='summary',
            field=candor.privacy.crypto.EncryptedTextField(blank=True, key_owner='owner_id'),
        ),
        migrations.AlterField(
            model_name='mlmodel',
            name='title',
            field=candor.privacy.crypto.EncryptedTextField(key_owner='owner_id'),
        ),
        # Named apart until 0006 removes the many-to-many field it replaces.
        migrations.AddField(
            model_name='mlmodel',
            name='tag_list',
            field=candor.privacy.crypto.EncryptedJSONField(blank=True, default=list, help_text='A list of words.', key_owner='owner_id'),
        ),
        migrations.CreateModel(
            name='PublicModel',
            fields=[
                ('model', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='public', serialize=False, to='hub.mlmodel')),
                ('owner', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('owner_username', models.CharField(max_length=39)),
                ('name', models.CharField(max_length=100)),
                ('title', models.CharField(max_length=200)),
                ('summary', models.CharField(blank=True, max_length=300)),
                ('card', models.TextField(blank=True)),
                ('tags', models.CharField(blank=True, max_length=900)),
                ('license', models.CharField(choices=LICENSES, default='other', max_length=20)),
                ('library', models.CharField(choices=LIBRARIES, default='other', max_length=20)),
                ('task', models.CharField(choices=TASKS, default='other', max_length=40)),
                ('in_popular', models.BooleanField(default=True)),
                ('files', models.IntegerField(default=0, help_text='How many files the model has.')),
                ('created_at', models.DateTimeField()),
                ('updated_at', models.DateTimeField()),
                ('published_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'verbose_name': 'public model',
                'indexes': [
                    models.Index(fields=['-updated_at', 'owner_username', 'name'], name='hub_public_updated'),
                    models.Index(fields=['name', 'owner_username'], name='hub_public_name'),
                    models.Index(fields=['-published_at'], name='hub_public_published'),
                ],
                'constraints': [
                    models.UniqueConstraint(models.F('owner_username'), models.F('name'), name='hub_public_owner_name_unique'),
                ],
            },
        ),
    ]
