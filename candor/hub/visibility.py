"""The one place that decides what a viewer may see (clause C4).

Every page, API route, listing, search, sitemap and feed asks these functions; none filters models or
profiles by visibility on its own. A thing the viewer may not see is reported exactly as a thing that
does not exist (``Http404``), never as forbidden.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.db.models import Q, QuerySet
from django.http import Http404

from candor.accounts.models import User
from candor.hub.choices import Visibility
from candor.hub.models import MLModel, MLModelQuerySet, ModelFile, PublicModel, path_index
from candor.privacy import crypto

Viewer = User | AnonymousUser | None


def _signed_in(viewer: Viewer) -> User | None:
    return viewer if isinstance(viewer, User) and viewer.is_authenticated and viewer.is_active else None


def readable_models(viewer: Viewer) -> MLModelQuerySet:
    """Models the viewer may open by their address: public and unlisted ones, and their own."""
    me = _signed_in(viewer)
    shared = Q(visibility__in=[Visibility.PUBLIC, Visibility.UNLISTED], owner__is_active=True)
    query = shared | Q(owner=me) if me is not None else shared
    return MLModelQuerySet(MLModel).filter(query).select_related("owner")


def listed_models() -> QuerySet[PublicModel]:
    """Models that may appear in any listing, search, sitemap, feed or profile: public ones only, read
    from their public projection (which holds a row for public models only), of active accounts."""
    return PublicModel.objects.filter(owner__is_active=True)


def own_models(viewer: Viewer) -> QuerySet[MLModel]:
    me = _signed_in(viewer)
    if me is None:
        return MLModel.objects.none()
    return MLModel.objects.filter(owner=me).select_related("owner")


def get_model(viewer: Viewer, username: str, name: str) -> MLModel:
    """The model at /<username>/<name>/ if the viewer may read it; otherwise Http404."""
    model = readable_models(viewer).named_by(username, name).first()
    if model is None:
        raise Http404("No such model.")
    shown(viewer, model)
    return model


def shown(viewer: Viewer, model: MLModel) -> MLModel:
    """Hand ``model`` to ``viewer``: when it is published (public or unlisted) and not theirs, this
    request may decrypt its published fields (candor.privacy.crypto.PUBLISHED), and nothing more."""
    me = _signed_in(viewer)
    if model.visibility in (Visibility.PUBLIC, Visibility.UNLISTED) and (
        me is None or me.pk != model.owner_id
    ):
        crypto.show_published(model.owner_id, model.pk)
    return model


def get_file(viewer: Viewer, username: str, name: str, path: str) -> ModelFile:
    """A file on the model's ``main`` branch, reachable only through its own model's visibility."""
    model = get_model(viewer, username, name)
    if model.head_id is None:
        raise Http404("No such file.")
    model_file = (
        ModelFile.objects.filter(commit_id=model.head_id, path_index=path_index(model.pk, path))
        .select_related("blob", "model__owner")
        .first()
    )
    if model_file is None:
        raise Http404("No such file.")
    return model_file


def can_edit(viewer: Viewer, model: MLModel) -> bool:
    """The one "may edit" rule: its owner, signed in and active. Actions, pages and the API ask this."""
    me = _signed_in(viewer)
    return me is not None and model.owner_id == me.pk


def get_editable_model(viewer: Viewer, username: str, name: str) -> MLModel:
    """The model if the viewer owns it. Someone who may read it but not change it gets PermissionError
    (they already know it exists); anyone else gets Http404."""
    model = get_model(viewer, username, name)
    if not can_edit(viewer, model):
        raise PermissionError("Only the owner may change this model.")
    return model


def profile_is_shown(profile: User) -> bool:
    return profile.is_active and profile.profile_visible


def get_profile(viewer: Viewer, username: str) -> User:
    """The person at /<username>/ if their profile is shown (the owner always sees their own)."""
    profile = User.objects.named(username).filter(is_active=True).first()
    if profile is None:
        raise Http404("No such profile.")
    me = _signed_in(viewer)
    if not profile.profile_visible and (me is None or me.pk != profile.pk):
        raise Http404("No such profile.")
    crypto.show_published(profile.pk)  # a shown profile shows its username
    return profile


def profile_models(viewer: Viewer, profile: User) -> QuerySet[MLModel] | QuerySet[PublicModel]:
    """What a profile lists: its public models (their projection); the owner also sees their unlisted
    and private ones (the models themselves)."""
    me = _signed_in(viewer)
    if me is not None and me.pk == profile.pk:
        return own_models(me)
    return listed_models().filter(owner=profile)


class _ShownProfiles(QuerySet[User]):
    """Profiles handed to any viewer: each fetched one may show its username in this request."""

    def _fetch_all(self) -> None:
        super()._fetch_all()
        for profile in self._result_cache or ():
            if isinstance(profile, User):
                crypto.show_published(profile.pk)


def indexable_profiles() -> QuerySet[User]:
    return _ShownProfiles(User).filter(is_active=True, profile_visible=True, profile_indexable=True)
