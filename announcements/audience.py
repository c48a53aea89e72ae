"""Who an announcement goes to, and the compose page's audience picker.

An audience is either the chosen conversations, a list fixed when the
announcement is saved, or a rule (everyone, all groups, all users, each
optionally narrowed to a search) applied when each run starts, so that
conversations added later get the later runs (`Announcement.Audience`).

The picker shows one page of server-side matches at a time and never posts a
field per conversation: a selection of thousands would pass Django's
DATA_UPLOAD_MAX_NUMBER_FIELDS (1,000), and the whole POST would be refused. It
posts where the selection starts (`audience_base`: the list of the
announcement being edited or duplicated, a saved audience, or every conversation
matching a search, `select_all_matching`) and the conversations checked and
unchecked on top of it, each as one comma-separated field.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django import forms
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from botadmin.forms import NoLabelSuffix, SearchWordsField
from botadmin.ids import id_or_none
from conversations.active_counts import active_counts
from conversations.deletion_marks import NOT_BEING_DELETED
from conversations.models import Bot, Conversation
from conversations.services import named

from .models import Announcement

Audience = Announcement.Audience

# The kind of conversation each rule takes (None: both).
RULE_KINDS = {
    Audience.EVERYONE: None,
    Audience.GROUPS: Conversation.Kind.GROUP,
    Audience.USERS: Conversation.Kind.USER,
}
# The picker's "all matching the search": stored as the rule of the kind filtered
# on, with the search.
MATCHING = "matching"
RULE_FOR_KIND = {"": Audience.EVERYONE, "group": Audience.GROUPS, "user": Audience.USERS}
# The picker's "Select all N matching": a list (fixed when saved) that starts from every
# conversation matching the search and kind, as `audience_base` "search:<kind>:<words>".
SEARCH_BASE = "search"
# Ids per IN list when writing a list: SQLite binds at most 32,766 parameters a query.
CHUNK = 1_000
# Conversations checked (or unchecked) one by one in one compose: more is the
# work of a rule or a saved audience, and keeps an IN list within SQLite's bounds.
MAX_PICKED = 10_000
PAGE_SIZE = 50
# Who may be a recipient: an active conversation whose deletion was not asked for (then
# /api/send refuses it too, conversations/deletion_marks.py).
RECEIVES = Q(is_active=True) & NOT_BEING_DELETED


def matching_conversations(bot: Bot, query: str, kind: str) -> QuerySet[Conversation]:
    """The bot's active conversations the picker lists for a search and kind ("": both)."""
    matches = named(Conversation.objects.filter(RECEIVES, bot=bot), query)
    return matches.filter(kind=kind) if kind else matches


def rule_members(bot: Bot, audience: str, search: str = "") -> QuerySet[Conversation]:
    """The bot's active conversations a rule takes now."""
    conversations = Conversation.objects.filter(RECEIVES, bot=bot)
    if kind := RULE_KINDS[audience]:
        conversations = conversations.filter(kind=kind)
    return named(conversations, search)


def recipients_now(announcement: Announcement) -> QuerySet[Conversation]:
    """Whom a run starting now sends to: the active ones of its list, or its rule's."""
    if announcement.audience == Audience.LISTED:
        return announcement.conversations.filter(RECEIVES)
    return rule_members(announcement.bot, announcement.audience, announcement.audience_search)


def count_now(announcement: Announcement) -> int:
    """How many conversations `recipients_now` takes; a rule without a search counted as
    the compose page counts it, from the shared cache (`kind_counts`, at most a minute
    old) instead of the bot's conversations each time its page is viewed."""
    if announcement.audience != Audience.LISTED and not announcement.audience_search:
        return kind_counts(announcement.bot)[announcement.audience]
    return recipients_now(announcement).count()


def chunked(ids: Iterable[int], size: int = CHUNK) -> Iterator[list[int]]:
    ids = list(ids)
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def replace_members(relation, ids: Iterable[int]) -> None:
    """Make a many-to-many of conversations (`announcement.conversations`,
    `audience.conversations`) hold exactly `ids`, changing only the difference."""
    wanted = set(ids)
    current = set(relation.order_by().values_list("pk", flat=True))
    for chunk in chunked(sorted(current - wanted)):
        relation.remove(*chunk)
    for chunk in chunked(sorted(wanted - current)):
        relation.add(*chunk)


class IdListInput(forms.HiddenInput):
    """Ids as one comma-separated value; repeated values ("a=1&a=2") are joined."""

    def value_from_datadict(self, data, files, name):
        values = data.getlist(name) if hasattr(data, "getlist") else data.get(name)
        if isinstance(values, list | tuple):
            return ",".join(str(v) for v in values)
        return values

    def format_value(self, value):
        if isinstance(value, list | tuple):
            return ",".join(str(v) for v in value)
        return super().format_value(value)


class IdListField(forms.Field):
    widget = IdListInput
    default_error_messages = {
        "invalid": _("Reload the page: the chosen conversations were not understood."),
        "too_many": _(
            "At most %(max)d conversations can be checked one by one; for more, "
            "send to all groups, all users or all matching a search."
        ),
    }

    def to_python(self, value) -> list[int]:
        ids = []
        for part in str(value or "").split(","):
            if not part.strip():
                continue
            pk = id_or_none(part.strip())
            if pk is None or pk < 1:
                raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
            ids.append(pk)
        if len(ids) > MAX_PICKED:
            raise forms.ValidationError(
                self.error_messages["too_many"], code="too_many", params={"max": MAX_PICKED}
            )
        return list(dict.fromkeys(ids))


class AudienceForm(NoLabelSuffix, forms.Form):
    """The audience part of the compose form, also what the picker posts for a page."""

    audience = forms.ChoiceField(
        label=_("Send to"),
        # A rule, as the others: whatever matches when each run starts, not today's results.
        choices=[*Audience.choices, (MATCHING, _("All matching the search, including later ones"))],
        initial=Audience.LISTED,
        required=False,
        widget=forms.RadioSelect,
    )
    audience_query = SearchWordsField(
        label=_("Search by name or ID"),
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "id": "audience-search",
                "autocomplete": "off",
                "placeholder": _("Search by name or ID"),
            }
        ),
    )
    audience_kind = forms.ChoiceField(
        label=_("Kind"),
        choices=[("", _("Users and groups")), ("group", _("Groups")), ("user", _("Users"))],
        required=False,
        widget=forms.Select(attrs={"id": "audience-kind"}),
    )
    # "search:<kind>:" and the search words (at most 200 characters, SearchWordsField).
    audience_base = forms.CharField(max_length=220, required=False, widget=forms.HiddenInput)
    conversations = IdListField(label=_("Recipients"), required=False)
    removed = IdListField(required=False)

    def __init__(self, *args, bot: Bot, **kwargs):
        super().__init__(*args, **kwargs)
        self.bot = bot

    def clean_audience_base(self) -> QuerySet[Conversation]:
        """The list the selection starts from: "announcement:<id>" or "saved:<id>" of this
        bot, or "search:<kind>:<words>", every conversation matching as the picker lists them."""
        value = self.cleaned_data.get("audience_base") or ""
        if not value:
            return Conversation.objects.none()
        source, _sep, pk = value.partition(":")
        if source == SEARCH_BASE:
            kind, _sep, words = pk.partition(":")
            if kind not in RULE_FOR_KIND or len(words) > 200:
                raise forms.ValidationError(_("Reload the page: the search was not understood."))
            return matching_conversations(self.bot, words, kind)
        pk = id_or_none(pk)
        owner = None
        if pk is not None and source == "announcement":
            owner = Announcement.objects.filter(bot=self.bot, pk=pk).first()
        elif pk is not None and source == "saved":
            owner = self.bot.saved_audiences.filter(pk=pk).first()
        if owner is None:
            raise forms.ValidationError(
                _("The list these recipients started from is gone; reload the page.")
            )
        return owner.conversations.all()

    def clean_conversations(self) -> list[int]:
        ids = self.cleaned_data.get("conversations") or []
        found = Conversation.objects.filter(RECEIVES, bot=self.bot, pk__in=ids)
        if ids and found.count() != len(ids):
            raise forms.ValidationError(
                _(
                    "Some checked conversations are not this bot's or no longer active; reload the page."
                )
            )
        return ids

    def rule(self) -> tuple[str, str]:
        """(the stored audience, its search) the chosen option means."""
        data = self.cleaned_data
        chosen = data.get("audience") or Audience.LISTED
        if chosen == MATCHING:
            return RULE_FOR_KIND[data.get("audience_kind") or ""], data.get("audience_query", "")
        return chosen, ""

    def chosen(self) -> QuerySet[Conversation]:
        """The chosen conversations: the base, with those checked, without those unchecked."""
        data = self.cleaned_data
        base = data.get("audience_base")
        if base is None:
            base = Conversation.objects.none()
        return (
            Conversation.objects.filter(bot=self.bot)
            .filter(Q(pk__in=base.values("pk")) | Q(pk__in=data.get("conversations") or []))
            .exclude(pk__in=data.get("removed") or [])
            .order_by()  # not the model's (by bot name): read whole, never shown in order
        )

    def members(self) -> QuerySet[Conversation]:
        """Who the audience takes now: the chosen conversations, or the rule's."""
        audience, search = self.rule()
        if audience == Audience.LISTED:
            return self.chosen().filter(RECEIVES)
        return rule_members(self.bot, audience, search)


class AudienceSearchForm(AudienceForm):
    """One page of the picker: the search and kind filter, optionally only the chosen
    ones, after the conversation `after` (keyset, by name)."""

    only_chosen = forms.BooleanField(required=False)
    after = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)

    def clean_conversations(self) -> list[int]:
        # Not checked here: one a sync switched off meanwhile simply matches nothing, and
        # the page goes on searching; sending the form says so.
        return self.cleaned_data.get("conversations") or []


@dataclass
class ResultsPage:
    rows: list[tuple[Conversation, bool]]  # (conversation, in the audience)
    next_after: int | None  # the last one's id when there are more
    found: int | None  # first page only: how many the list holds
    matching: int | None  # first page only: how many match the search and kind


def kind_counts(bot: Bot) -> dict[str, int]:
    """How many active conversations each rule takes (without a search): kept in the
    shared cache, counted again after a change (`conversations.active_counts`)."""
    counts = active_counts(bot)
    groups, users = counts[Conversation.Kind.GROUP], counts[Conversation.Kind.USER]
    return {"groups": groups, "users": users, "everyone": groups + users}


def results_page(form: AudienceSearchForm, counts: dict[str, int] | None = None) -> ResultsPage:
    """The page of the bot's active conversations the picker shows, a fixed number of
    queries; `counts` (`kind_counts`), when known, saves counting the unfiltered list."""
    data = form.cleaned_data
    query, kind = data.get("audience_query", ""), data.get("audience_kind", "")
    matches = matching_conversations(form.bot, query, kind)
    members = form.members()
    shown = matches
    if data.get("only_chosen"):
        # The members narrowed as the matches are, not the matches IN (the members): on a
        # conversation table never analyzed PostgreSQL ran that as a scan of the bot's
        # conversations for each of them (docs/performance.md, note 30).
        shown = named(members, query)
        if kind:
            shown = shown.filter(kind=kind)
    after = data.get("after")
    page, next_after = _by_name(shown, form.bot, after, PAGE_SIZE)
    on_page = members.filter(pk__in=[c.pk for c in page]).order_by()
    taken = set(on_page.values_list("pk", flat=True))
    found = matching = None
    if after is None:
        if counts is not None and not query:
            matching = counts[RULE_FOR_KIND[kind]]
        else:
            matching = matches.count()
        found = shown.count() if data.get("only_chosen") else matching
    return ResultsPage(
        rows=[(c, c.pk in taken) for c in page],
        next_after=next_after,
        found=found,
        matching=matching,
    )


class TooManyToKeep(Exception):
    """Choosing all matching would keep more conversations chosen one by one than a form
    carries (MAX_PICKED)."""


@dataclass
class Selection:
    audience_base: str
    conversations: list[int]  # chosen before and not matching: kept one by one
    count: int  # how many the selection sends to now


def select_all_matching(form: AudienceSearchForm) -> Selection:
    """The picker's "Select all N matching" (Gmail's "Select all conversations that match
    this search"): the selection becomes every conversation matching the search and kind,
    as a base, plus those chosen before that it does not match; none is left unchecked."""
    data = form.cleaned_data
    query, kind = data.get("audience_query", ""), data.get("audience_kind", "")
    matches = matching_conversations(form.bot, query, kind)
    before = form.chosen().filter(RECEIVES).exclude(pk__in=matches.values("pk"))
    kept = list(before.order_by("pk").values_list("pk", flat=True)[: MAX_PICKED + 1])
    if len(kept) > MAX_PICKED:
        raise TooManyToKeep
    return Selection(f"{SEARCH_BASE}:{kind}:{query}", kept, matches.count() + len(kept))


def _by_name(
    conversations: QuerySet[Conversation], bot: Bot, after: int | None, size: int
) -> tuple[list[Conversation], int | None]:
    """A page of `conversations` in their names' natural order (用户2 before 用户10, 李四
    before 张三; botadmin.natural_order), after the conversation `after` (keyset on
    name_sort_key and id: a range of conv_active_sort_idx, however far down), and the
    last one's id when there are more."""
    if after is not None:
        # From the last one's key on (a range of the index), past it and those before it
        # with the same key.
        last = Conversation.objects.filter(bot=bot, pk=after).order_by()
        key = last.values_list("name_sort_key", flat=True)[:1]
        conversations = conversations.filter(name_sort_key__gte=key).exclude(
            name_sort_key=key, pk__lte=after
        )
    page = list(conversations.order_by("name_sort_key", "pk")[: size + 1])
    return page[:size], page[size - 1].pk if len(page) > size else None


def recipients_by_name(
    announcement: Announcement, after: int | None, size: int
) -> tuple[list[Conversation], int | None]:
    """A page of whom a run starting now sends to (`recipients_now`), by name (natural
    order), after the conversation `after`, and the last one's id when there are more:
    what the operator checks before the announcement goes out."""
    return _by_name(recipients_now(announcement), announcement.bot, after, size)
