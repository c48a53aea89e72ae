"""A self-built app bot's settings (shared/spec/wecom-app.md): the form the admin, the
console and `createbot` fill in (`WeComAppConnector.settings_form`), and the app they
name (`app_for`), which every call to WeCom is made for (`wecom_app_api`)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

from django import forms
from django.conf import settings
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from botadmin import http
from botadmin.forms import InternalHttpURLField, NoLabelSuffix, checked_once, url_check_errors

from . import wecom_app_api as api

if TYPE_CHECKING:
    from conversations.models import Bot

_alphanumeric = RegexValidator(r"^[A-Za-z0-9]+$", _("Letters and digits only."))


class WeComAppSettings(NoLabelSuffix, forms.Form):
    corp_id = forms.CharField(
        label=_("corp ID"),
        max_length=64,
        validators=[_alphanumeric],
        help_text=_("企业ID: 管理后台 → 我的企业 → 企业信息, at the bottom of the page."),
    )
    agent_id = forms.IntegerField(
        label=_("agent ID"),
        min_value=1,
        help_text=_("The app's AgentId, on its page: 应用管理 → 应用 → 自建 → the app."),
    )
    app_secret = forms.CharField(
        label=_("app secret"),
        max_length=128,
        widget=forms.PasswordInput,
        help_text=_("The app's Secret, on its page: Secret → 查看 sends it to your WeCom client."),
    )
    callback_token = forms.CharField(
        label=_("callback token"),
        max_length=32,
        required=False,
        validators=[_alphanumeric],
        widget=forms.PasswordInput,
        help_text=_("The Token of the app's 接收消息 → 设置API接收, the same here and there."),
    )
    encoding_aes_key = forms.CharField(
        label=_("EncodingAESKey"),
        min_length=43,
        max_length=43,
        required=False,
        validators=[_alphanumeric],
        widget=forms.PasswordInput,
        # Django's "Ensure this value has at least 43 characters" read as a minimum.
        error_messages={
            code: _(
                "The EncodingAESKey is exactly 43 letters and digits; this one has %(show_value)d."
            )
            for code in ("min_length", "max_length")
        },
        help_text=_(
            "The EncodingAESKey of the app's 接收消息 → 设置API接收 (43 letters and digits), "
            "the same here and there."
        ),
    )
    licensed_accounts = forms.IntegerField(
        label=_("licensed accounts"),
        required=False,
        min_value=1,
        help_text=_(
            "The company's account limit (账号上限数). WeCom takes at most that × 200 "
            "person-messages a day from the app and drops the rest without a word: botadmin "
            "holds messages past it until the next day, China time. Empty: not counted."
        ),
    )
    miniprogram_notice = forms.BooleanField(
        label=_("mini programs linked"),
        required=False,
        help_text=_(
            "On when mini programs are linked to the app (关联小程序): mini program messages "
            "go to members as 小程序通知. Off: they are sent as links."
        ),
    )
    proxy_url = InternalHttpURLField(
        label=_("outbound proxy URL"),
        required=False,
        max_length=500,
        assume_scheme="http",
        error_messages={"scheme": _("The outbound proxy URL must start with http:// or https://.")},
        help_text=_(
            "Only when the app's trusted IP (企业可信IP) is a proxy's: http://host:port, or "
            "https://host:port for a proxy reached over TLS (its certificate is checked "
            "against the system's CAs and certifi's); with user@ before the host when the "
            "proxy asks for a password."
        ),
    )
    proxy_password = forms.CharField(
        label=_("outbound proxy password"),
        required=False,
        max_length=200,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("For the user name in the proxy URL, when the proxy asks for a password."),
    )

    def clean_proxy_url(self) -> str:
        """A bot admin chooses the proxy; where proxies may be is the server's rule
        (botadmin.http.check_proxy_url), checked here and again at each connection."""
        url = self.cleaned_data["proxy_url"]
        if not url:
            return url
        parts = urlsplit(url)
        if parts.password is not None:
            raise forms.ValidationError(
                _(
                    "Put the proxy's password in its own field: the URL is shown to whoever "
                    "reads the bot's settings."
                ),
                code="proxy_password_in_url",
            )
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise forms.ValidationError(
                _("A proxy URL is the proxy's address only, e.g. http://10.0.0.5:3128."),
                code="proxy_path",
            )
        networks = settings.BOTADMIN_OUTBOUND_PROXY_NETWORKS
        refused = (
            _("Proxies may only be in BOTADMIN_OUTBOUND_PROXY_NETWORKS (%(networks)s): %(reason)s")
            if networks
            else _("This proxy may not be used: %(reason)s")
        )
        unresolved = _("The proxy URL cannot be checked now: %(reason)s. Try again in a moment.")

        def check() -> None:
            with url_check_errors(refused, unresolved, networks=", ".join(networks)):
                http.check_proxy_url(url)

        checked_once(("proxy_url", url), check)
        return url


def app_for(bot: Bot) -> api.App:
    values = bot.connector_settings or {}
    try:
        agent_id = int(values.get("agent_id") or 0)
    except (TypeError, ValueError):
        agent_id = 0
    return api.App(
        corp_id=str(values.get("corp_id") or ""),
        agent_id=agent_id,
        secret=str(values.get("app_secret") or ""),
        proxy_url=_with_password(
            str(values.get("proxy_url") or ""), str(values.get("proxy_password") or "")
        ),
    )


def _with_password(proxy_url: str, password: str) -> str:
    """The proxy URL requests are sent through: with the password after the URL's user
    name, if it has one (the settings keep the password apart, as a secret)."""
    parts = urlsplit(proxy_url)
    if not password or not parts.username:
        return proxy_url
    user, _at, address = parts.netloc.rpartition("@")
    return parts._replace(netloc=f"{user}:{quote(password, safe='')}@{address}").geturl()
