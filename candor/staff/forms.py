"""The console's forms: they parse input; the actions decide (and refuse)."""

from __future__ import annotations

from typing import Any

from django import forms

from candor.staff import queries
from candor.staff.choices import COUNTRIES, Employment, Purpose, Role


class CodeForm(forms.Form):
    code = forms.CharField(
        label="Code",
        max_length=32,
        help_text="The six digits your authenticator app shows now, or one of your recovery codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text"}),
    )


class SignForm(forms.Form):
    signed_name = forms.CharField(
        label="Your full name", max_length=200, widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    text_sha256 = forms.CharField(widget=forms.HiddenInput, max_length=64)


class FindForm(forms.Form):
    query = forms.CharField(
        label="Username or exact email address",
        max_length=320,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class GrantForm(forms.Form):
    role = forms.ChoiceField(label="Under your role")
    purpose = forms.ChoiceField(label="Purpose", choices=Purpose.choices)
    case_reference = forms.CharField(
        label="Case reference",
        max_length=64,
        required=False,
        help_text="Letters, digits and - . / #: every grant names its case.",
    )
    categories = forms.MultipleChoiceField(
        label="Categories of data", widget=forms.CheckboxSelectMultiple, required=False
    )
    minutes = forms.IntegerField(label="Minutes", initial=60, min_value=1, max_value=24 * 60)
    tell_after = forms.DateField(
        label="Do not tell the person until (legal requests only)",
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args: Any, roles: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role_field: Any = self.fields["role"]
        role_field.choices = [(r, Role(r).label) for r in roles if r in Role.values]
        categories: Any = self.fields["categories"]
        categories.choices = [(c, c) for c in queries.categories()]


class MemberForm(forms.Form):
    username = forms.CharField(label="Username of the account", max_length=150)
    roles = forms.MultipleChoiceField(
        label="Roles", choices=Role.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    employment = forms.ChoiceField(label="Employment", choices=Employment.choices)
    organisation = forms.CharField(label="Affiliated organisation", max_length=200, required=False)
    office_country = forms.ChoiceField(label="Office country", choices=COUNTRIES)
    work_country = forms.ChoiceField(label="Works from", choices=COUNTRIES)


class ChangeMemberForm(forms.Form):
    roles = forms.MultipleChoiceField(
        label="Roles", choices=Role.choices, widget=forms.CheckboxSelectMultiple, required=False
    )
    office_country = forms.ChoiceField(label="Office country", choices=COUNTRIES)
    work_country = forms.ChoiceField(label="Works from", choices=COUNTRIES)


# --- The blog (candor.comms): the form parses; comms.actions.save_post decides and refuses. ---------


class PostForm(forms.Form):
    title = forms.CharField(label="Title", max_length=200)
    slug = forms.CharField(
        label="Address (optional)",
        max_length=80,
        required=False,
        help_text="The post is at /blog/<address>/: letters, digits and hyphens. Left empty, a new post "
        "takes one from its title and a saved post keeps its own. Changing it breaks links to the old one.",
        widget=forms.TextInput(attrs={"autocapitalize": "none", "spellcheck": "false"}),
    )
    summary = forms.CharField(
        label="Summary (optional)",
        max_length=400,
        required=False,
        help_text="One or two sentences, shown under the title in the blog's list and on the post.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    body = forms.CharField(
        label="Text (Markdown)",
        required=False,
        strip=False,
        max_length=200_000,
        help_text="Markdown, through the model cards' sanitiser: no scripts or embeds, and images only "
        "from this site.",
        widget=forms.Textarea(attrs={"rows": 18}),
    )
