"""One describer per kind kubectl has a built-in layout for; `generic` for the rest."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kubectl_scipian.read.describe import Describer
    from kubectl_scipian.read.discovery import Resource


def describer_for(res: Resource) -> Describer:
    from kubectl_scipian.read.describers import common, generic

    builtin = {
        ("", "ConfigMap"): common.configmap,
        ("", "Namespace"): common.namespace,
    }
    return builtin.get((res.group, res.kind), generic.generic)
