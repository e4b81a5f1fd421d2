"""``candor staff add|change|end|list|publish-agreement``: the operator manages staff at the command line.

The operator acts as the platform (``acting_user=None``); every change goes through the staff actions,
which audit it. Bad input (an unknown account, role or country) is a clear message and a non-zero exit.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from candor.accounts.models import User
from candor.kernel.refusal import Refusal
from candor.staff import actions
from candor.staff.choices import Employment, Role
from candor.staff.models import StaffMember


def _roles(text: str) -> list[str]:
    return [word.strip() for word in text.split(",") if word.strip()]


class Command(BaseCommand):
    help = "Members of staff: add, change, end and list them, and publish the confidentiality agreement."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        roles_help = f"Comma-separated roles among: {', '.join(Role.values)}."
        add = sub.add_parser("add", help="Make an account a member of staff.")
        add.add_argument("username")
        add.add_argument("--roles", required=True, help=roles_help)
        add.add_argument("--employment", default=Employment.EMPLOYEE, help=", ".join(Employment.values))
        add.add_argument("--organisation", default="", help="The affiliated organisation's name.")
        add.add_argument("--office", required=True, help="The office's country, ISO 3166 alpha-2.")
        add.add_argument("--work", required=True, help="The country they work from, ISO 3166 alpha-2.")
        change = sub.add_parser("change", help="Change a member's roles and countries.")
        change.add_argument("username")
        change.add_argument("--roles", help=roles_help)
        change.add_argument("--office")
        change.add_argument("--work")
        end = sub.add_parser("end", help="End a member of staff: their grants end with them.")
        end.add_argument("username")
        sub.add_parser("list", help="The members of staff: id, roles, countries, second factor.")
        publish = sub.add_parser("publish-agreement", help="Publish a version of the agreement.")
        publish.add_argument("--version", required=True, dest="agreement_version")
        publish.add_argument("--file", required=True, type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, "_" + options["action"].replace("-", "_"))(options)
        except Refusal as refusal:
            raise CommandError(refusal.message) from None

    def _account(self, username: str) -> User:
        user = User.objects.by_username(username)
        if user is None:
            raise CommandError(f"There is no account with the username {username!r}.")
        return user

    def _member(self, username: str) -> StaffMember:
        user = self._account(username)
        member = StaffMember.objects.filter(user=user, ended_at__isnull=True).first()
        if member is None:
            raise CommandError(f"The account {username!r} is not a member of staff.")
        return member

    def _add(self, options: dict[str, Any]) -> None:
        member = actions.add_staff(
            self._account(options["username"]),
            acting_user=None,
            roles=_roles(options["roles"]),
            employment=options["employment"],
            office_country=options["office"],
            work_country=options["work"],
            organisation=options["organisation"],
        )
        self.stdout.write(
            f"Added member {member.pk}: {', '.join(member.roles)}; office {member.office_country}, "
            f"works from {member.work_country}. They set up their second factor at /staff/."
        )

    def _change(self, options: dict[str, Any]) -> None:
        member = self._member(options["username"])
        member = actions.change_staff(
            member,
            acting_user=None,
            roles=_roles(options["roles"]) if options["roles"] else member.roles,
            office_country=options["office"] or member.office_country,
            work_country=options["work"] or member.work_country,
        )
        self.stdout.write(
            f"Changed member {member.pk}: {', '.join(member.roles)}; office {member.office_country}, "
            f"works from {member.work_country}."
        )

    def _end(self, options: dict[str, Any]) -> None:
        member = self._member(options["username"])
        actions.end_staff(member, acting_user=None)
        self.stdout.write(f"Ended member {member.pk}: their grants are ended.")

    def _list(self, options: dict[str, Any]) -> None:
        rows = StaffMember.objects.filter(ended_at__isnull=True).order_by("pk")
        self.stdout.write(f"{'member':>6}  {'roles':<40} office work  second factor")
        for m in rows:
            factor = "set up" if m.has_second_factor else "not yet"
            self.stdout.write(
                f"{m.pk:>6}  {','.join(m.roles):<40} {m.office_country:<6} {m.work_country:<5} {factor}"
            )

    def _publish_agreement(self, options: dict[str, Any]) -> None:
        path: Path = options["file"]
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {path}: {error}.") from None
        agreement = actions.publish_agreement(options["agreement_version"], text, acting_user=None)
        self.stdout.write(
            f"Published agreement {agreement.version} (SHA-256 {agreement.sha256}): every member signs it "
            "again before any access."
        )
