"""The store's interface is documented in one place: ``publisher.store.interface.QueueStore``.

mypy checks that ``Store`` implements every declared method with a matching signature; this test checks the
other direction, so a method added to ``Store`` without its documented contract fails here.
"""

from __future__ import annotations

import inspect

from publisher.store import QueueStore, Store


def public_methods(cls: type) -> set[str]:
    return {name for name, _ in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}


def test_every_public_store_method_is_declared_and_documented_in_the_interface() -> None:
    missing = public_methods(Store) - public_methods(QueueStore)
    assert not missing, (
        f"add these to publisher/store/interface.py with what they promise and raise: {missing}"
    )
    stale = public_methods(QueueStore) - public_methods(Store)
    assert not stale, f"declared in the interface but not implemented by Store: {stale}"
