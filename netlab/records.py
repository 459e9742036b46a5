"""`Record`: immutable value types declared like `typing.NamedTuple`, built without `typing` or `dataclasses`.

A frozen, slotted dataclass costs its module `import dataclasses` (which imports `inspect`, `ast`,
`dis` and `tokenize`: about 11 ms here) and a few hundred microseconds per class, each time Python
starts; `netlab sockets` must start and finish in half the time `ss -tanp` takes. So the value types
on that path (`Endpoint`, `SocketRow`, ...) are declared as::

    class Endpoint(Record):
        ip: str
        port: int = 0

        def __str__(self) -> str: ...

and become a `collections.namedtuple` subclass with ``__slots__ = ()``: immutable, compared and
hashed by value (in C), copied with ``_replace(field=value)``, built positionally or by keyword.
Unlike a dataclass, a record is a tuple: it also equals a plain tuple of the same values, unpacks,
and sorts. For type checkers `Record` is `typing.NamedTuple`, which describes exactly that.
"""

from __future__ import annotations

from collections import namedtuple

__all__ = ["Record"]

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import NamedTuple as Record
else:

    class _RecordMeta(type):
        """Turns a class body of annotated fields (defaults last) and methods into a namedtuple subclass."""

        def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, object]) -> type:
            fields = tuple(namespace.get("__annotations__", {}))
            with_default = [field in namespace for field in fields]
            if with_default != sorted(with_default):
                raise TypeError(f"{name}: fields with a default must come after those without")
            defaults = [namespace.pop(field) for field in fields if field in namespace]
            base = namedtuple(name, fields, defaults=defaults, module=namespace.get("__module__"))
            namespace["__slots__"] = ()
            return type.__new__(type, name, (base,), namespace)

    Record = type.__new__(_RecordMeta, "Record", (), {"__module__": __name__, "__doc__": __doc__})
