"""The transform registry: names a stage spec can refer to, each bound to a
function pyarrow.Table -> pyarrow.Table.

Registration happens at import time (the decorator), before the worker
starts; lookups afterwards only read, so the registry needs no lock.
"""

from typing import Callable, Dict, List

import pyarrow as pa

TransformFn = Callable[[pa.Table], pa.Table]

_TRANSFORMS: Dict[str, TransformFn] = {}


def transform(name: str) -> Callable[[TransformFn], TransformFn]:
    """Registers the decorated function under `name`.

    Raises ValueError when `name` is empty or already taken by another
    function, so that two modules cannot silently shadow each other.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a transform name must be a non-empty string, got {name!r}")

    def register(fn: TransformFn) -> TransformFn:
        existing = _TRANSFORMS.get(name)
        if existing is not None and existing is not fn:
            raise ValueError(
                f"transform {name!r} is already registered by "
                f"{existing.__module__}.{existing.__qualname__}"
            )
        _TRANSFORMS[name] = fn
        return fn

    return register


def get_transform(name: str) -> TransformFn:
    """The function registered as `name`; KeyError naming the known ones otherwise."""
    try:
        return _TRANSFORMS[name]
    except KeyError:
        raise KeyError(
            f"unknown transform {name!r} (registered: {', '.join(registered_transforms()) or 'none'})"
        ) from None


def registered_transforms() -> List[str]:
    """Registered names, sorted."""
    return sorted(_TRANSFORMS)
