"""Forms: they parse and check input; every change is made by an action."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import PasswordResetForm as DjangoPasswordResetForm
from django.contrib.auth.hashers import UNUSABLE_PASSWORD_PREFIX
from django.http import HttpRequest

from candor.accounts import actions
from candor.accounts.models import User, email_index
from candor.accounts.validators import USERNAME_MAX, validate_username
from candor.comms import outbox
from candor.kernel.refusal import Code, Refusal


class SignUpForm(forms.Form):
    username = forms.CharField(
        max_length=USERNAME_MAX,
        validators=[validate_username],
        help_text="3 to 39 letters, digits or single hyphens. It is public: your profile is /your-name/.",
        widget=forms.TextInput(
            attrs={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )
    email = forms.EmailField(
        max_length=254,
        help_text="Used to confirm your account and to reach you about it. Never shown to anyone.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password = forms.CharField(
        strip=False,
        help_text="At least 10 characters, not a common password.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean_username(self) -> str:
        username: str = self.cleaned_data["username"]
        if actions.username_taken(username):
            raise forms.ValidationError(actions.USERNAME_TAKEN, code=Code.USERNAME_TAKEN.value)
        return username

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password = cleaned.get("password")
        if password:
            candidate = User(username=cleaned.get("username", ""), email=cleaned.get("email", ""))
            try:
                password_validation.validate_password(password, candidate)
            except forms.ValidationError as error:
                self.add_error("password", error)
        return cleaned


class LoginForm(forms.Form):
    username = forms.CharField(
        label="Username or email",
        max_length=254,
        widget=forms.TextInput(
            attrs={"autocomplete": "username", "autocapitalize": "none", "autofocus": True}
        ),
    )
    password = forms.CharField(
        strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        self.request = request
        self.user: User | None = None
        super().__init__(*args, **kwargs)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if "username" in cleaned and "password" in cleaned:
            try:
                self.user = actions.log_in(
                    self.request, identifier=cleaned["username"], password=cleaned["password"]
                )
            except Refusal as refusal:
                raise forms.ValidationError(refusal.message, code=refusal.code.value) from None
        return cleaned


class EmailChangeForm(forms.Form):
    email = forms.EmailField(
        label="New email address", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password = forms.CharField(
        label="Your current password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class DeleteAccountForm(forms.Form):
    password = forms.CharField(
        label="Your current password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    confirm = forms.CharField(
        label="Type your username to confirm",
        max_length=USERNAME_MAX,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "none", "spellcheck": "false"}
        ),
    )


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(
        label="Current password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    new_password = forms.CharField(
        label="New password",
        strip=False,
        help_text="At least 10 characters, not a common password.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    end_other_sessions = forms.BooleanField(
        label="Log out my other sessions",
        required=False,
        initial=True,
        help_text="Recommended if you think someone else knows your old password.",
    )

    def __init__(self, user: User, *args: Any, request: HttpRequest | None = None, **kwargs: Any) -> None:
        self.user = user
        self.request = request
        super().__init__(*args, **kwargs)

    def clean_old_password(self) -> str:
        old: str = self.cleaned_data["old_password"]
        try:
            actions.verify_password(self.user, old, self.request)
        except Refusal as refusal:
            if refusal.code is Code.WRONG_PASSWORD:
                message = "The current password is not correct."
                raise forms.ValidationError(message, code=refusal.code.value) from None
            raise forms.ValidationError(refusal.message, code=refusal.code.value) from None
        return old

    def clean_new_password(self) -> str:
        new: str = self.cleaned_data["new_password"]
        password_validation.validate_password(new, self.user)
        return new


class PasswordResetForm(DjangoPasswordResetForm):
    """Django's reset form, sending through the task queue so that the answer takes the same time
    whether or not the address has an account."""

    def get_users(self, email: str) -> Iterator[Any]:
        # Django's version compares the email column; here the address is found by its blind index.
        users = User.objects.filter(email_index=email_index(email), is_active=True)
        yield from users.exclude(password__startswith=UNUSABLE_PASSWORD_PREFIX)

    def save(self, *args: Any, **kwargs: Any) -> None:
        # The same work whether or not the address has an account (one query, one queued task), so the
        # answer's timing says nothing: for an unknown address the task names a random id that matches
        # no account (the outbox stores no row for it), and the worker finds nobody to write to, as for an
        # account deleted meanwhile.
        users = list(self.get_users(self.cleaned_data["email"]))
        outbox.queue("password-reset", users[0].pk if users else uuid.uuid4())
