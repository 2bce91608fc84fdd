"""The literal registry: channel name → factory. A factory returns ``None`` when its channel
is not configured; the gateway then refuses attempts for it with a clear error."""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from config import Settings
from gateway.channels.base import Channel
from gateway.channels.dvcqg import DvcqgChannel
from gateway.channels.momo import MomoChannel
from gateway.channels.pos import PosChannel
from gateway.channels.vietqr import VietQrChannel
from gateway.channels.vnpay import VnpayChannel
from gateway.channels.zalopay import ZalopayChannel
from gateway.core.ids import Clock
from gateway.core.money import ChannelName
from providers.common.secrets import Secret
from providers.payment.dvcqg import DvcqgPartner
from providers.payment.momo import MomoMerchant
from providers.payment.pos import PosMerchant
from providers.payment.vnpay import VnpayTerminal
from providers.payment.zalopay import ZalopayApp


def vnpay_urls(settings: Settings) -> tuple[str, str] | None:
    base = f"{settings.base_url}/sandbox/vnpay" if settings.sandbox else None
    payment_url = settings.vnpay.payment_url or (base and f"{base}/paymentv2/vpcpay.html")
    api_url = settings.vnpay.api_url or (base and f"{base}/merchant_webapi/api/transaction")
    return (payment_url, api_url) if payment_url and api_url else None


def build_vnpay(
    settings: Settings, session: aiohttp.ClientSession, clock: Clock
) -> VnpayChannel | None:
    urls = vnpay_urls(settings)
    if urls is None:
        return None
    payment_url, api_url = urls
    config = settings.vnpay
    terminals = {
        agency: VnpayTerminal(
            t.tmn_code, Secret(t.hash_secret.get_secret_value()), payment_url, api_url
        )
        for agency, t in config.terminals.items()
    }
    default = (
        VnpayTerminal(
            config.tmn_code, Secret(config.hash_secret.get_secret_value()), payment_url, api_url
        )
        if config.tmn_code and config.hash_secret
        else None
    )
    if not terminals and default is None:
        return None
    return VnpayChannel(
        session,
        terminals,
        default,
        f"{settings.base_url}/callbacks/vnpay/return",
        config.timeout_seconds,
        clock,
    )


def pos_merchant(settings: Settings) -> PosMerchant | None:
    base_url = settings.pos.base_url or (
        f"{settings.base_url}/sandbox/pos" if settings.sandbox else None
    )
    if base_url is None:
        return None
    return PosMerchant(
        settings.pos.merchant_id, Secret(settings.pos.secret.get_secret_value()), base_url
    )


def build_pos(
    settings: Settings, session: aiohttp.ClientSession, clock: Clock
) -> PosChannel | None:
    merchant = pos_merchant(settings)
    if merchant is None:
        return None
    return PosChannel(
        session,
        merchant,
        f"{settings.base_url}/callbacks/pos",
        settings.pos.timeout_seconds,
        clock,
    )


def dvcqg_urls(settings: Settings) -> tuple[str, str, str] | None:
    """INIT, QUERY and GET_BILL URLs; in sandbox mode they default to the mounted sandbox."""
    base = f"{settings.base_url}/sandbox/dvcqg" if settings.sandbox else None
    config = settings.dvcqg
    init_url = config.init_url or (base and f"{base}/init")
    query_url = config.query_url or (base and f"{base}/query")
    bill_url = config.bill_url or (base and f"{base}/getbill")
    return (init_url, query_url, bill_url) if init_url and query_url and bill_url else None


def build_dvcqg(
    settings: Settings, session: aiohttp.ClientSession, clock: Clock
) -> DvcqgChannel | None:
    urls = dvcqg_urls(settings)
    if urls is None:
        return None
    config = settings.dvcqg
    partners = {
        agency: DvcqgPartner(p.partner_code, Secret(p.secret_key.get_secret_value()), *urls)
        for agency, p in config.partners.items()
    }
    default = (
        DvcqgPartner(config.partner_code, Secret(config.secret_key.get_secret_value()), *urls)
        if config.partner_code and config.secret_key
        else None
    )
    if not partners and default is None:
        return None
    return DvcqgChannel(session, partners, default, config.timeout_seconds, clock)


# -- wallets (issue 12): MoMo and ZaloPay ----------------------------------------------------


def build_momo(
    settings: Settings, session: aiohttp.ClientSession, clock: Clock
) -> MomoChannel | None:
    config = settings.momo
    api_url = config.api_url or (
        f"{settings.base_url}/sandbox/momo/v2/gateway/api" if settings.sandbox else None
    )
    if api_url is None:
        return None
    merchants = {
        agency: MomoMerchant(
            m.partner_code,
            Secret(m.access_key.get_secret_value()),
            Secret(m.secret_key.get_secret_value()),
            api_url,
        )
        for agency, m in config.merchants.items()
    }
    default = (
        MomoMerchant(
            config.partner_code,
            Secret(config.access_key.get_secret_value()),
            Secret(config.secret_key.get_secret_value()),
            api_url,
        )
        if config.partner_code and config.access_key and config.secret_key
        else None
    )
    if not merchants and default is None:
        return None
    return MomoChannel(
        session, merchants, default, settings.base_url, config.timeout_seconds, clock
    )


def build_zalopay(
    settings: Settings, session: aiohttp.ClientSession, clock: Clock
) -> ZalopayChannel | None:
    config = settings.zalopay
    api_url = config.api_url or (
        f"{settings.base_url}/sandbox/zalopay" if settings.sandbox else None
    )
    if api_url is None:
        return None
    apps = {
        agency: ZalopayApp(
            z.app_id,
            Secret(z.key1.get_secret_value()),
            Secret(z.key2.get_secret_value()),
            api_url,
        )
        for agency, z in config.apps.items()
    }
    default = (
        ZalopayApp(
            config.app_id,
            Secret(config.key1.get_secret_value()),
            Secret(config.key2.get_secret_value()),
            api_url,
        )
        if config.app_id and config.key1 and config.key2
        else None
    )
    if not apps and default is None:
        return None
    return ZalopayChannel(session, apps, default, settings.base_url, config.timeout_seconds, clock)


def build_vietqr(settings: Settings, session: aiohttp.ClientSession, clock: Clock) -> VietQrChannel:
    return VietQrChannel()  # the banks' notices are configured under settings.banks


FACTORIES: dict[str, Callable[[Settings, aiohttp.ClientSession, Clock], Channel | None]] = {
    ChannelName.VIETQR: build_vietqr,
    ChannelName.VNPAY: build_vnpay,
    ChannelName.POS: build_pos,
    ChannelName.DVCQG: build_dvcqg,
    ChannelName.MOMO: build_momo,
    ChannelName.ZALOPAY: build_zalopay,
}


def build_channels(
    settings: Settings, session: aiohttp.ClientSession, clock: Clock
) -> dict[str, Channel]:
    built = {name: factory(settings, session, clock) for name, factory in FACTORIES.items()}
    return {name: channel for name, channel in built.items() if channel is not None}
