"""What the real-node tests share: the node (tests/stack/node.py, the same code as
`scripts/stack node up`) and the images they run there, imported into the node's containerd
under exactly the names their charts use (there is no registry: `imagePullPolicy: Never`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tests.stack import node
from tests.stack.paths import ROOT
from tools import image

# The names the charts use: charts/scipian-backend's values.yaml (image.repository and tag).
BACKEND_IMAGE = f"{image.REPOSITORY}:{image.backend_version()}"
# tests/charts/shop-web's values.yaml `image`: tests/tools/shopweb, imported under that name.
SHOP_WEB_IMAGE = "registry.example/shop-web:1.0"
SHOP_WEB_REAL_NODE_VALUES = ROOT / "tests" / "charts" / "shop-web" / "values-real-node.yaml"
NODE_SELECTOR = {node.LABEL: "true"}
TOLERATIONS = [{"key": node.TAINT, "operator": "Exists", "effect": "NoSchedule"}]


@dataclass
class RealNode:
    name: str
    started_here: bool
    timings: dict[str, float] = field(default_factory=dict)


def start() -> RealNode:
    """The node up (or found up); raises node.Unavailable with the reason it cannot run."""
    was_up = node.running()
    timings = node.up()
    return RealNode(node.name(), started_here=not was_up, timings=timings)


def import_backend_image(timings: dict[str, float]) -> str:
    """`make image`'s image (built if missing) in the node's containerd as BACKEND_IMAGE."""
    started = time.monotonic()
    ref = image.build()
    timings["backend image build (cached by make image)"] = time.monotonic() - started
    started = time.monotonic()
    archive = image.image_dir() / ref.rsplit("inputs-", 1)[1] / "backend.oci.tar"
    if not archive.exists():
        tmp = archive.with_name(archive.name + ".tmp")
        tmp.unlink(missing_ok=True)
        image.buildah("push", ref, f"oci-archive:{tmp}:{BACKEND_IMAGE}")
        tmp.rename(archive)
    node.import_image(BACKEND_IMAGE, archive)
    timings["backend image import"] = time.monotonic() - started
    return BACKEND_IMAGE


def import_shop_web_image() -> str:
    """tests/tools/shopweb alone in an image, in the node's containerd as SHOP_WEB_IMAGE."""
    from tests import tools

    binary = tools.shopweb()
    archive = binary.with_name("shop-web.oci.tar")
    if not archive.exists():
        image.scratch_archive(binary, SHOP_WEB_IMAGE, archive)
    node.import_image(SHOP_WEB_IMAGE, archive)
    return SHOP_WEB_IMAGE
