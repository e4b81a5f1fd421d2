"""The second factor: set-up, a code once only, a window of one step, recovery codes, throttling."""

from __future__ import annotations

import time

import pyotp
import pytest

from candor.kernel.refusal import Code, Refusal
from candor.privacy.audit import EventType
from candor.privacy.models import AuditEvent
from candor.staff import second_factor
from candor.staff.models import StaffMember
from tests.conftest import make_user
from tests.staff.factory import make_staff

pytestmark = pytest.mark.django_db


def _secret(user: object) -> str:
    return str(StaffMember.objects.get(user=user).totp_secret)


def _code_at(secret: str, offset_steps: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + offset_steps * second_factor.STEP_SECONDS)


def _wrong_code(secret: str) -> str:
    window = {_code_at(secret, offset) for offset in (-1, 0, 1)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in window)


def test_setup_stores_an_encrypted_unconfirmed_secret_and_a_code_confirms_it() -> None:
    user = make_staff("sam", second_factor=False)
    setup = second_factor.begin_setup(acting_user=user)
    member = StaffMember.objects.get(user=user)
    assert member.totp_confirmed_at is None
    assert str(member.totp_secret) == setup.secret
    raw = StaffMember.objects.filter(pk=member.pk).values_list("totp_secret", flat=True).get()
    assert setup.secret not in str(raw)
    assert setup.uri.startswith("otpauth://totp/") and f"secret={setup.secret}" in setup.uri
    assert "sam" not in setup.uri
    with pytest.raises(Refusal) as wrong:
        second_factor.confirm_setup(acting_user=user, code=_wrong_code(setup.secret))
    assert wrong.value.code is Code.INVALID
    assert StaffMember.objects.get(pk=member.pk).totp_confirmed_at is None
    codes = second_factor.confirm_setup(acting_user=user, code=_code_at(setup.secret))
    member = StaffMember.objects.get(pk=member.pk)
    assert member.has_second_factor
    assert len(codes) == 10 and len(set(codes)) == 10
    assert len(member.recovery_codes) == 10
    assert not set(codes) & set(member.recovery_codes)  # only hashes are kept
    assert AuditEvent.objects.filter(event_type=EventType.SECOND_FACTOR_SET).count() == 1
    with pytest.raises(Refusal) as again:
        second_factor.begin_setup(acting_user=user)
    assert again.value.code is Code.CONFLICT


def test_a_code_is_accepted_once_and_only_within_one_step() -> None:
    user = make_staff("sam")
    secret = _secret(user)
    code = _code_at(secret)
    assert second_factor.verify(acting_user=user, code=code) is False
    with pytest.raises(Refusal) as replay:
        second_factor.verify(acting_user=user, code=code)
    assert replay.value.code is Code.INVALID
    assert second_factor.verify(acting_user=user, code=_code_at(secret, 1)) is False
    far = _code_at(secret, 3)
    with pytest.raises(Refusal):
        second_factor.verify(acting_user=user, code=far)


def test_a_recovery_code_works_once_and_is_audited() -> None:
    user = make_staff("sam", second_factor=False)
    setup = second_factor.begin_setup(acting_user=user)
    codes = second_factor.confirm_setup(acting_user=user, code=_code_at(setup.secret))
    assert second_factor.verify(acting_user=user, code=codes[3].upper()) is True
    assert AuditEvent.objects.filter(event_type=EventType.RECOVERY_CODE_USED).count() == 1
    with pytest.raises(Refusal):
        second_factor.verify(acting_user=user, code=codes[3])
    assert second_factor.remaining_codes(StaffMember.objects.get(user=user)) == 9


def test_regenerating_codes_ends_the_old_ones() -> None:
    user = make_staff("sam", second_factor=False)
    setup = second_factor.begin_setup(acting_user=user)
    old = second_factor.confirm_setup(acting_user=user, code=_code_at(setup.secret))
    with pytest.raises(Refusal):
        second_factor.regenerate_codes(acting_user=user, code="12345x")
    new = second_factor.regenerate_codes(acting_user=user, code=_code_at(setup.secret, 1))
    assert not set(old) & set(new)
    with pytest.raises(Refusal):
        second_factor.verify(acting_user=user, code=old[0])
    assert second_factor.verify(acting_user=user, code=new[0]) is True


def test_wrong_codes_are_throttled_even_the_right_one_then() -> None:
    user = make_staff("sam")
    secret = _secret(user)
    for _ in range(second_factor.WRONG_CODES):
        with pytest.raises(Refusal) as wrong:
            second_factor.verify(acting_user=user, code="abcdefghij")
        assert wrong.value.code is Code.INVALID
    with pytest.raises(Refusal) as throttled:
        second_factor.verify(acting_user=user, code=_code_at(secret))
    assert throttled.value.code is Code.THROTTLED


def test_someone_not_staff_has_no_second_factor_here() -> None:
    with pytest.raises(Refusal) as refused:
        second_factor.begin_setup(acting_user=make_user("erin"))
    assert refused.value.code is Code.NOT_STAFF
