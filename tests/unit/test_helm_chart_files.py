"""The Helm chart's static files agree with the package (no helm needed).

One source of truth for each CRD: `backend/scipian_backend/manifests/crd.yaml` (Environment),
`promotion-crd.yaml` (Promotion, copied to `crds/promotions.scipian.io.yaml`) and
`accessrequest-crd.yaml` (AccessRequest, `crds/accessrequests.scipian.io.yaml`). Helm
installs CRDs only from a chart's `crds/` directory (never templated, never upgraded), so
the chart holds a byte-for-byte copy and this test fails when the two differ; fix it with
`cp backend/scipian_backend/manifests/crd.yaml \
charts/scipian-backend/crds/environments.scipian.io.yaml`.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.stack.paths import ROOT
from tools.image import REPOSITORY
from tools.image import backend_version as version

CHART = ROOT / "charts" / "scipian-backend"
MANIFESTS = ROOT / "backend" / "scipian_backend" / "manifests"


def test_the_charts_crds_are_the_packages_crds() -> None:
    accessrequests, environments, promotions = sorted((CHART / "crds").iterdir())
    assert accessrequests.name == "accessrequests.scipian.io.yaml"
    assert accessrequests.read_bytes() == (MANIFESTS / "accessrequest-crd.yaml").read_bytes()
    assert environments.name == "environments.scipian.io.yaml"
    assert environments.read_bytes() == (MANIFESTS / "crd.yaml").read_bytes(), __doc__
    assert promotions.name == "promotions.scipian.io.yaml"
    assert promotions.read_bytes() == (MANIFESTS / "promotion-crd.yaml").read_bytes(), __doc__


def test_chart_version_and_app_version_follow_the_package() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "scipian-backend"
    assert chart["version"] == version()
    assert chart["appVersion"] == version()


def test_default_values() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["replicas"] == 2
    # The image `make image` builds, named by the backend's version like the chart.
    assert values["image"] == {
        "repository": REPOSITORY,
        "tag": version(),
        "pullPolicy": "IfNotPresent",
    }
    assert values["oidc"]["issuer"] == ""  # required at install time
    assert values["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert values["podSecurityContext"]["runAsNonRoot"] is True


def test_no_stray_files_in_the_chart() -> None:
    files = sorted(str(p.relative_to(CHART)) for p in CHART.rglob("*") if p.is_file())
    assert all(not Path(f).name.startswith(".") or f == ".helmignore" for f in files), files


def test_the_charts_observer_role_is_the_packages() -> None:
    import yaml as _yaml

    chart = (ROOT / "charts" / "scipian-backend" / "templates" / "observer-role.yaml").read_text()
    body = "\n".join(line for line in chart.splitlines() if not line.startswith("{{"))
    shipped = (MANIFESTS / "observer-role.yaml").read_text()
    assert list(_yaml.safe_load_all(body)) == list(_yaml.safe_load_all(shipped))
