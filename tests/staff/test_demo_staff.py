"""The demo data set's staff: dana and erik with a second factor and the agreement, and one pending grant."""

from __future__ import annotations

import pyotp
import pytest
from django.test import Client

from candor.accounts.models import User
from candor.staff import queries
from candor.staff.models import Grant, StaffMember
from candor.web.demo import demo_staff, load_demo_data, staff_secrets

pytestmark = pytest.mark.django_db


def test_the_demo_has_staff_with_a_second_factor_an_agreement_and_a_pending_grant() -> None:
    load_demo_data()
    demo_staff()  # a second run adds nothing
    dana = StaffMember.objects.get(user=User.objects.by_username("dana"))
    assert "administrator" in dana.roles and dana.has_second_factor
    assert queries.signature_in_force(dana) is not None
    grant = Grant.objects.get()
    assert grant.decision == Grant.Decision.PENDING
    assert grant.requester.user == User.objects.by_username("erik")
    secrets = dict(staff_secrets())
    client = Client()
    assert client.post("/login/", {"username": "dana", "password": "amber-signal-64"}).status_code == 302
    verified = client.post("/staff/verify/", {"code": pyotp.TOTP(secrets["dana"]).now()})
    assert verified.status_code == 302
    home = client.get("/staff/")
    assert home.status_code == 200 and grant.public_id[:6].encode() in home.content
