from __future__ import annotations

from django import forms

from candor.hub.choices import LIBRARIES, LICENSES, TASKS, Visibility
from candor.hub.validators import validate_model_name


class ModelMetadataForm(forms.Form):
    title = forms.CharField(max_length=200)
    summary = forms.CharField(
        max_length=300, required=False, help_text="One or two sentences shown in lists."
    )
    tags = forms.CharField(
        max_length=900, required=False, help_text="Comma-separated, e.g. vision, resnet, int8."
    )
    license = forms.ChoiceField(choices=LICENSES, initial="Apache-2.0")
    library = forms.ChoiceField(choices=LIBRARIES, initial="pytorch")
    task = forms.ChoiceField(choices=TASKS, initial="other")
    card = forms.CharField(
        label="Model card",
        required=False,
        widget=forms.Textarea(attrs={"rows": 14}),
        help_text="Markdown, saved as the model's README.md with the licence, library, task and tags above "
        "as its front-matter. Scripts, event handlers and images from other sites are removed.",
    )
    in_popular = forms.BooleanField(
        label="List in popular and trending",
        required=False,
        initial=True,
        help_text="Only while it is public. Its views and downloads are still counted for your own "
        "chart on the model's page.",
    )


class ModelEditForm(ModelMetadataForm):
    # The revision the edit page showed: the card is committed on it, so a README.md changed by a push
    # since the page was opened is not overwritten (the save is refused and the page says why).
    parent = forms.CharField(required=False, max_length=40, widget=forms.HiddenInput)


class ModelCreateForm(ModelMetadataForm):
    name = forms.CharField(
        max_length=100,
        validators=[validate_model_name],
        help_text="Part of the model's address: letters, digits, dots, hyphens, underscores.",
        widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false"}),
    )
    field_order = ["name", "title", "summary", "tags", "license", "library", "task", "card"]


class VisibilityForm(forms.Form):
    visibility = forms.ChoiceField(choices=Visibility.choices, widget=forms.RadioSelect)


class UploadForm(forms.Form):
    file = forms.FileField()
    path = forms.CharField(
        max_length=500,
        required=False,
        help_text="Where the file goes in the model, e.g. weights/model.safetensors. Defaults to its name.",
    )


class ProfileForm(forms.Form):
    profile_visible = forms.BooleanField(label="Show my profile page to others", required=False)
    profile_indexable = forms.BooleanField(label="Let search engines index my profile", required=False)
