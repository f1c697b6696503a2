"""Network adapters: an explicit table from network name to adapter class (no plugin discovery).

Adding a network: write ``publisher/adapters/<name>.py`` with a subclass of ``Adapter``, add it here,
add its settings section and its composer profile. See docs/adding-a-network.md.
"""

from __future__ import annotations

import importlib

from publisher.adapters.base import Adapter
from publisher.adapters.dryrun import DryRunAdapter
from publisher.errors import ConfigurationError
from publisher.models import network_of
from publisher.settings import Settings

#: network -> "module:Class". Imported on first use so a broken optional client library only
#: affects its own network.
ADAPTERS: dict[str, str] = {
    "vk": "publisher.adapters.vk:VkAdapter",
    "x": "publisher.adapters.x:XAdapter",
    "facebook": "publisher.adapters.facebook:FacebookAdapter",
    "telegram": "publisher.adapters.telegram:TelegramAdapter",
}


def adapter_class(network: str) -> type[Adapter]:
    try:
        module_name, class_name = ADAPTERS[network].split(":")
    except KeyError:
        raise ConfigurationError(
            f"no adapter for network {network!r}; known: {', '.join(ADAPTERS)}"
        ) from None
    cls: type[Adapter] = getattr(importlib.import_module(module_name), class_name)
    return cls


def build_adapter(settings: Settings, target: str) -> Adapter:
    """The adapter for one target: the dry-run stand-in when dry-run applies, else the network's own.

    Raises ``ConfigurationError`` naming the variables to set when the target's credentials are missing.
    """
    section = settings.target(target)
    if settings.is_dry_run(target):
        return DryRunAdapter(target, section)
    missing = section.credentials_missing()
    if missing:
        net = network_of(target)
        prefix = f"PUBLISHER_{net.upper()}__"
        if ":" in target:
            prefix += f"ACCOUNTS__{target.split(':', 1)[1].upper()}__"
        names = ", ".join(prefix + m.upper() for m in missing)
        raise ConfigurationError(f"target {target} is not configured: set {names} (or enable dry run)")
    return adapter_class(network_of(target))(target, section)


__all__ = ["ADAPTERS", "Adapter", "DryRunAdapter", "adapter_class", "build_adapter"]
