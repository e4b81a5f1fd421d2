"""The demo data set: a few accounts a visitor can log in as."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, timedelta
from random import Random

import pyotp
from django.utils import timezone

from candor.accounts.models import User
from candor.analytics import store
from candor.analytics.batch import Batch
from candor.comms import actions as comms_actions
from candor.comms import posts as comms_posts
from candor.hub import actions
from candor.hub.models import MLModel
from candor.staff import actions as staff_actions
from candor.staff import queries as staff_queries
from candor.staff.models import Grant, StaffMember


@dataclass(frozen=True)
class DemoAccount:
    username: str
    email: str
    password: str
    is_staff: bool = False


DEMO_ACCOUNTS = (
    DemoAccount("alice", "alice@demo.candor.localhost", "violet-harbour-71"),
    DemoAccount("bob", "bob@demo.candor.localhost", "copper-lantern-52"),
    DemoAccount("carol", "carol@demo.candor.localhost", "quiet-meadow-38"),
    DemoAccount("dana", "dana@demo.candor.localhost", "amber-signal-64", is_staff=True),
    DemoAccount("erik", "erik@demo.candor.localhost", "linen-compass-19", is_staff=True),
)

# The demo's members of staff: username, roles, office country, work country, the name they sign with.
DEMO_STAFF = (
    ("dana", ("administrator", "support", "trust_and_safety"), "DE", "DE", "Dana Demo"),
    ("erik", ("support",), "IE", "PT", "Erik Demo"),
)
DEMO_AGREEMENT = (
    "I keep confidential whatever I see of a person's data, use it only for the case a grant names, "
    "copy none of it elsewhere, and end a grant as soon as the case no longer needs it."
)


DEMO_MODELS = (
    # owner, name, title, summary, task, library, licence, tags, visibility
    (
        "alice",
        "tiny-resnet",
        "Tiny ResNet",
        "A 1.2M-parameter ResNet for 32x32 images.",
        "image-classification",
        "pytorch",
        "Apache-2.0",
        "vision, resnet, small",
        "public",
    ),
    (
        "alice",
        "sentiment-mini",
        "Sentiment mini",
        "Binary sentiment for short English reviews.",
        "text-classification",
        "onnx",
        "MIT",
        "nlp, sentiment",
        "public",
    ),
    (
        "alice",
        "draft-detector",
        "Draft detector",
        "Work in progress: only alice can see it.",
        "object-detection",
        "pytorch",
        "other",
        "vision",
        "private",
    ),
    (
        "bob",
        "whisper-tiny-fr",
        "Whisper tiny (French)",
        "Speech recognition fine-tuned on French podcasts.",
        "automatic-speech-recognition",
        "transformers",
        "MIT",
        "speech, french",
        "public",
    ),
    (
        "bob",
        "shared-preview",
        "Shared preview",
        "Unlisted: readable by link, never listed.",
        "translation",
        "jax",
        "CC-BY-4.0",
        "translation",
        "unlisted",
    ),
)


def load_demo_data() -> list[tuple[DemoAccount, bool]]:
    """Create the demo accounts that do not exist yet. Returns each account and whether it was created.

    Not one transaction: each model is made by the hub's durable actions, each in its own; a run cut
    short is completed by the next, which skips what exists.
    """
    results = []
    for account in DEMO_ACCOUNTS:
        exists = User.objects.named(account.username).exists()
        if not exists:
            User.objects.create_user(
                account.username,
                account.email,
                account.password,
                email_verified=True,
                is_staff=account.is_staff,
            )
        results.append((account, not exists))
    created = []
    for owner_name, name, title, summary, task, library, licence, tags, visibility in DEMO_MODELS:
        owner = User.objects.named(owner_name).get()
        if MLModel.objects.named(owner, name).exists():
            continue
        card = f"# {title}\n\n{summary}\n\nPart of the demo data set: its weights are placeholder bytes."
        # The card becomes its README.md commit, with the licence, library, task and tags as front-matter.
        model = actions.create_model_with_card(
            acting_user=owner,
            name=name,
            title=title,
            summary=summary,
            card=card,
            task=task,
            library=library,
            license=licence,
            tags=tags,
            visibility=visibility,
        )
        actions.add_file(model, "weights/model.bin", [bytes(range(256)) * 64], acting_user=owner)
        created.append(model)
    demo_usage([m for m in created if m.is_public])
    demo_staff()
    demo_notices()
    demo_blog()
    return results


def demo_notices() -> None:
    """A notice for alice, so the banner (and `candor notices`) has something to show. Once: a rerun
    of the demo does not bring it back after she dismissed it."""
    alice = User.objects.named("alice").get()
    comms_actions.notify(
        alice,
        "account",
        "Welcome to the demo",
        "Notices like this one stay at the top of every page until you dismiss them: changes to the "
        "privacy policy, to how you sign in, or to your email address.",
        link="/settings/",
        key="demo:welcome",
        once=True,
    )


def demo_staff() -> None:
    """Dana and Erik as members of staff (a second factor each, the agreement signed), and one grant of
    Erik's waiting for a second member's approval (Dana's): carol's email address for a support case."""
    if staff_queries.current_agreement() is None:
        staff_actions.publish_agreement("demo-1", DEMO_AGREEMENT, acting_user=None)
    for username, roles, office, work, signed_name in DEMO_STAFF:
        user = User.objects.named(username).get()
        member = StaffMember.objects.filter(user=user, ended_at__isnull=True).first()
        if member is None:
            member = staff_actions.add_staff(
                user,
                acting_user=None,
                roles=roles,
                employment="employee",
                office_country=office,
                work_country=work,
            )
        if not member.has_second_factor:
            member.totp_secret = pyotp.random_base32()
            member.totp_confirmed_at = timezone.now()
            member.save(update_fields=["totp_secret", "totp_confirmed_at"])
        if staff_queries.signature_in_force(member) is None:
            agreement = staff_queries.current_agreement()
            assert agreement is not None
            staff_actions.sign_agreement(
                acting_user=user, signed_name=signed_name, text_sha256=agreement.sha256
            )
    erik = User.objects.named("erik").get()
    if not Grant.objects.filter(requester__user=erik).exists():
        staff_actions.request_grant(
            acting_user=erik,
            subject=User.objects.named("carol").get(),
            role="support",
            purpose="support_case",
            case_reference="DEMO-1",
            categories=["account.username", "contact.email"],
        )


def staff_secrets() -> list[tuple[str, str]]:
    """Each demo member's username and TOTP secret, for the demo command to print (demo data only)."""
    found = []
    for username, *_ in DEMO_STAFF:
        member = StaffMember.objects.filter(
            user__in=User.objects.named(username), ended_at__isnull=True
        ).first()
        if member is not None and member.totp_secret:
            found.append((username, str(member.totp_secret)))
    return found


def demo_usage(models: list[MLModel], days: int = 30) -> None:
    """Made-up usage counts for the demo's public models over the last ``days`` days, so the popular
    lists and the trends report have something to show. They go in as aggregates, exactly as counted
    visits would: there is no visitor behind them."""
    if not models:
        return
    rng = Random(2026)  # noqa: S311 - made-up figures, not a secret
    batch = Batch()
    today = timezone.now().astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    visitors: dict[tuple[date, int], int] = {}
    for age in range(days * 24):
        hour = today - timedelta(hours=age)
        if not 7 <= hour.hour <= 22:
            continue
        for rank, model in enumerate(models):
            views = rng.randint(0, max(1, 6 - rank))
            if not views:
                continue
            batch.models[(hour, model.pk, "view")] += views
            batch.models[(hour, model.pk, "download")] += rng.randint(0, 1 + views // 3)
            batch.routes[(hour, "hub:model", False)] += views
            batch.routes[(hour, "hub:model", True)] += rng.randint(0, 2)
            day = hour.date()
            batch.dimensions[
                (day, "browser", rng.choice(["Firefox", "Chrome", "Chrome", "Safari", "Edge"]))
            ] += views
            batch.dimensions[(day, "language", rng.choice(["en", "en", "en", "fr", "de", "ja"]))] += views
            if rng.random() < 0.3:
                batch.dimensions[(day, "referrer", rng.choice(["example.org", "example.net"]))] += views
            for key in ((day, 0), (day, model.pk)):
                visitors[key] = visitors.get(key, 0) + max(1, views // 2)
    store.write(batch, unique_counts=visitors)


# --- The blog: three published posts and a draft, written by dana (an administrator) ----------------
DEMO_POSTS = (
    # slug, title, summary, body, published
    (
        "welcome",
        "Welcome to the demo",
        "What this platform is, and what it promises about your data.",
        "This is a demo of a model-sharing site whose privacy policy is enforced by code.\n\n"
        "## What to try\n\n- Browse the [public models](/models/).\n"
        "- Log in with one of the demo accounts and publish one.\n"
        "- Read the [privacy policy](/privacy/) and the [data inventory](/privacy/data/).",
        True,
    ),
    (
        "no-tracking-in-emails",
        "No tracking in our emails",
        "Product updates carry no pixel and no redirected links, and one click unsubscribes.",
        "Every product update we send is plain: no tracking pixel, and every link goes straight where it "
        "says.\n\nYou can turn product updates off in your settings, or with the link at the foot of any "
        "of them. Account and security emails are always sent.",
        True,
    ),
    (
        "model-cards",
        "Better model cards",
        "Cards now show their licence, task and languages from README.md.",
        "A model card's front-matter fills in its licence, task, library and languages.\n\n"
        "```yaml\nlicense: mit\ntags: [vision]\n```\n\n"
        "Anything the card gets wrong is shown to its owner only.",
        True,
    ),
    (
        "coming-next",
        "Coming next (draft)",
        "A draft: only staff see it, in the console.",
        "Notes for a post that is not ready yet.",
        False,
    ),
)


def demo_blog() -> None:
    """The demo's posts, oldest first so that the list shows them newest first; a post already there
    (by its address) is left as it is."""
    author = User.objects.named("dana").get()
    for slug, title, summary, body, published in DEMO_POSTS:
        if comms_posts.staff_post(slug) is not None:
            continue
        post = comms_actions.save_post(
            None, title=title, summary=summary, body=body, slug=slug, acting_user=author
        )
        if published:
            comms_actions.publish_post(post, acting_user=author)
