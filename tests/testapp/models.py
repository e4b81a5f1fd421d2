"""A model that only tests know: it is declared in the inventory and mentioned in no Candor code."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from candor.privacy.crypto import EncryptedTextField
from candor.privacy.inventory import NotPersonal, Personal, Sweep, declare


class Diary(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    mood = models.CharField(max_length=100)
    secret = EncryptedTextField(key_owner="user_id")
    attachment = models.FileField(blank=True)
    written_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "testapp"


declare(
    Diary,
    belongs_to="user",
    sweeps=(Sweep("old diary entries", field="written_at", days=3),),
    fields={
        "id": NotPersonal(),
        "user": NotPersonal("the owner"),
        "mood": Personal("test.mood", "a test", "three days", ("C3",), correctable=True),
        "secret": Personal("test.secret", "a test", "three days", ("C18",)),
        "attachment": Personal("test.attachment", "a test", "three days", ("C5",)),
        "written_at": Personal("test.mood", "a test", "three days", ("C3",)),
    },
)
