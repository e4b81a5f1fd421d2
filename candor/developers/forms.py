from __future__ import annotations

from django import forms

from candor.api.actions import MAX_DAYS
from candor.api.models import SCOPES


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What the token is for, e.g. “laptop CLI” or “CI upload”."
    )
    scopes = forms.MultipleChoiceField(
        choices=[(s, s) for s in SCOPES],
        widget=forms.CheckboxSelectMultiple,
        initial=["read"],
        help_text="read: see your private models. write: create, change and delete models and files.",
    )
    expires_in_days = forms.TypedChoiceField(
        label="Expires",
        choices=[("30", "in 30 days"), ("90", "in 90 days"), (str(MAX_DAYS), "in a year"), ("", "never")],
        coerce=int,
        empty_value=None,
        required=False,
        initial="90",
    )
