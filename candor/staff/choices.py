"""The fixed lists of staff access: roles, kinds of employment, purposes and their legal grounds.

Roles give abilities (which purposes a member may ask a grant for, who may add staff), never data: data
is reached only through a grant (:mod:`candor.staff.gate`). Each purpose names one of the three grounds
on which the policy allows sharing a person's data (C2), and always comes with the reference of its case.
"""

from __future__ import annotations

import pycountry
from django.db import models


class Role(models.TextChoices):
    SUPPORT = "support", "support"
    TRUST_AND_SAFETY = "trust_and_safety", "trust and safety"
    LEGAL = "legal", "legal"
    BILLING = "billing", "billing"
    ON_CALL = "on_call", "engineering on call"
    COMMUNICATIONS = "communications", "communications"
    ADMINISTRATOR = "administrator", "administrator"


class Employment(models.TextChoices):
    EMPLOYEE = "employee", "employee"
    CONTRACTOR = "contractor", "contractor"
    AFFILIATE = "affiliate", "affiliated organisation"


class Ground(models.TextChoices):
    LAW = "law", "to comply with the law"
    OPERATE = "operate", "to operate and develop the service"
    PROTECT = "protect", "to protect rights and safety"


class Purpose(models.TextChoices):
    LEGAL_REQUEST = "legal_request", "a legal request"
    SUPPORT_CASE = "support_case", "a support case"
    SECURITY_INCIDENT = "security_incident", "a security incident"
    ABUSE_REPORT = "abuse_report", "an abuse report"


GROUND: dict[str, Ground] = {
    Purpose.LEGAL_REQUEST: Ground.LAW,
    Purpose.SUPPORT_CASE: Ground.OPERATE,
    Purpose.SECURITY_INCIDENT: Ground.OPERATE,
    Purpose.ABUSE_REPORT: Ground.PROTECT,
}

# Which roles may ask for a grant for which purpose. An administrator manages staff; it reads nothing
# by its role alone.
PURPOSES_OF_ROLE: dict[str, frozenset[str]] = {
    Role.SUPPORT: frozenset({Purpose.SUPPORT_CASE}),
    Role.BILLING: frozenset({Purpose.SUPPORT_CASE}),
    Role.TRUST_AND_SAFETY: frozenset({Purpose.ABUSE_REPORT, Purpose.SECURITY_INCIDENT}),
    Role.LEGAL: frozenset({Purpose.LEGAL_REQUEST}),
    Role.ON_CALL: frozenset({Purpose.SECURITY_INCIDENT}),
    # Writes the blog and sends product updates: reads nobody's data.
    Role.COMMUNICATIONS: frozenset(),
    Role.ADMINISTRATOR: frozenset(),
}

# Categories of the inventory that need a second member's approval whatever the purpose: network
# addresses and another person's full email address. A grant over every category at once (a whole
# record: "in bulk") needs it too (actions.needs_approval).
SENSITIVE_CATEGORIES = frozenset({"contact.email", "network.ip"})
# Network addresses (in security events) are revealed for a security incident only (C9).
ONLY_FOR: dict[str, frozenset[str]] = {"network.ip": frozenset({Purpose.SECURITY_INCIDENT})}

CASE_REFERENCE = r"^[A-Za-z0-9][A-Za-z0-9._/#-]{0,63}$"

# ISO 3166-1 alpha-2, from pycountry's tables.
COUNTRIES: list[tuple[str, str]] = sorted((c.alpha_2, c.name) for c in pycountry.countries)
