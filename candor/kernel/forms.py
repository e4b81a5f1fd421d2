"""How a page shows a :class:`~candor.kernel.refusal.Refusal`: as the errors of the form that asked.

Every view that calls an action with a form's input shows a refusal the same way, so a person sees
the reason beside the field at fault, or above the form when no field is.
"""

from __future__ import annotations

from django import forms

from candor.kernel.refusal import Refusal


def show_refusal(form: forms.BaseForm, refusal: Refusal) -> None:
    """Add the refusal's messages to ``form``: each beside its field, the rest as non-field errors.

    A field the form does not have (the action knows inputs the page does not ask for) is shown
    above the form rather than lost.
    """
    if not refusal.fields:
        form.add_error(None, refusal.message)
        return
    for name, messages in refusal.fields.items():
        for message in messages:
            form.add_error(name if name in form.fields else None, message)
