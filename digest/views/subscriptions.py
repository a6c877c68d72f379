"""Subscribe, confirm, preferences and unsubscribe pages. No account: signed signed_links."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from digest import signed_links, subscriptions
from digest.forms import PreferencesForm, SubscribeForm
from digest.mail import MailError
from digest.models import Subscriber
from papers.languages import reader_lang
from papers.views.ratelimit import limit_per_client


def _bad_link(request: HttpRequest, error: signed_links.BadLink) -> HttpResponse:
    return render(request, "digest/bad_link.html", {"expired": error.expired}, status=400)


@require_http_methods(["GET", "POST"])
@limit_per_client("subscribe")  # each form sent mails a stranger's address: SUBSCRIBE_RATE_LIMIT per client
def subscribe(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = SubscribeForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                result = subscriptions.subscribe(email=data["email"], lang=data["lang"], tags=list(data["tags"]))
            except MailError:
                form.add_error(None, gettext("We could not send the confirmation mail just now. Please try again in a few minutes."))
                return render(request, "digest/subscribe.html", {"form": form}, status=503)
            return render(request, "digest/subscribe_sent.html", {"email": result.subscriber.email})
        return render(request, "digest/subscribe.html", {"form": form}, status=400)
    # The digest's language defaults to the interface language the reader is using.
    form = SubscribeForm(initial={"lang": reader_lang()})
    return render(request, "digest/subscribe.html", {"form": form})


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    # A GET only shows a button: link scanners in mail systems open links, and a scanner
    # must not be able to complete a double opt-in on the owner's behalf.
    try:
        subscriber = signed_links.subscriber_for_confirm(token)
    except signed_links.BadLink as e:
        return _bad_link(request, e)
    if request.method == "POST":
        subscriptions.confirm(subscriber)
        return render(request, "digest/confirmed.html", _links(subscriber))
    return render(request, "digest/confirm.html", {"subscriber": subscriber})


@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    try:
        subscriber = signed_links.subscriber_for_preferences(token)
    except signed_links.BadLink as e:
        return _bad_link(request, e)
    saved = False
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            subscriptions.update_preferences(subscriber, lang=form.cleaned_data["lang"], tags=list(form.cleaned_data["tags"]))
            saved = True
    else:
        form = PreferencesForm(initial={"lang": subscriber.lang, "tags": list(subscriber.tags.all())})
    status = 400 if form.is_bound and not form.is_valid() else 200
    context = {"form": form, "subscriber": subscriber, "saved": saved, **_links(subscriber)}
    return render(request, "digest/preferences.html", context, status=status)


# Mail clients send the RFC 8058 one-click POST ("List-Unsubscribe=One-Click") without our
# cookies, so there is no CSRF token to check; the signed token in the URL is what proves
# the request comes from the mailbox's owner, and all it can do is stop mail.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        subscriber = signed_links.subscriber_for_unsubscribe(token)
    except signed_links.BadLink as e:
        return _bad_link(request, e)
    if request.method == "POST":
        subscriptions.unsubscribe(subscriber)
        return render(request, "digest/unsubscribed.html", {"subscriber": subscriber, **_links(subscriber)})
    # GET never unsubscribes: link scanners and prefetchers open every link in a mail.
    done = subscriber.status == Subscriber.Status.UNSUBSCRIBED
    return render(request, "digest/unsubscribe.html", {"subscriber": subscriber, "done": done})


def _links(subscriber: Subscriber) -> dict:
    return {
        "preferences_url": signed_links.preferences_url(subscriber),
        "unsubscribe_url": signed_links.unsubscribe_url(subscriber),
    }
