"""DCAT-AP export of the catalog as JSON-LD (DCAT-AP 3.0 classes and properties; EU controlled vocabularies
for frequency and access rights). Grade and sharing attribute, which DCAT has no property for, are carried
in a ``cityhub:`` namespace next to the standard properties."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from cityhub.catalog import service, sources
from cityhub.kit.timeutil import clock
from cityhub.models.catalog import CatalogResource, DataGrade, OpenAttribute, SharingAttribute, UpdateCycle

EU = "http://publications.europa.eu/resource/authority"
CONTEXT: dict[str, Any] = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "vcard": "http://www.w3.org/2006/vcard/ns#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "cityhub": "urn:cityhub:catalog:",
    "dct:issued": {"@type": "xsd:dateTime"},
    "dct:modified": {"@type": "xsd:dateTime"},
    "dct:accrualPeriodicity": {"@type": "@id"},
    "dct:accessRights": {"@type": "@id"},
    "dcat:accessURL": {"@type": "@id"},
    "dcat:mediaType": {"@type": "@id"},
}
FREQUENCY = {
    UpdateCycle.REALTIME: "CONT",
    UpdateCycle.HOURLY: "HOURLY",
    UpdateCycle.DAILY: "DAILY",
    UpdateCycle.WEEKLY: "WEEKLY",
    UpdateCycle.MONTHLY: "MONTHLY",
    UpdateCycle.QUARTERLY: "QUARTERLY",
    UpdateCycle.YEARLY: "ANNUAL",
    UpdateCycle.IRREGULAR: "IRREG",
}
ACCESS_RIGHTS = {
    OpenAttribute.UNCONDITIONAL: "PUBLIC",
    OpenAttribute.CONDITIONAL: "RESTRICTED",
    OpenAttribute.NONE: "NON_PUBLIC",
}


def _zh(text: str) -> dict[str, str]:
    return {"@value": text, "@language": "zh"}


def dataset(resource: CatalogResource, department: str, base_url: str) -> dict[str, Any]:
    """One resource as a ``dcat:Dataset`` with one distribution: the hub's API."""
    uri = f"{base_url}/api/v1/catalog/resources/{resource.code}"
    grade, sharing = DataGrade(resource.grade), SharingAttribute(resource.sharing)
    open_attr = OpenAttribute(resource.open_attribute)
    return {
        "@id": uri,
        "@type": "dcat:Dataset",
        "dct:identifier": resource.code,
        "dct:title": _zh(resource.name),
        "dct:description": _zh(resource.description or resource.name),
        "dct:publisher": {"@type": "foaf:Agent", "foaf:name": _zh(department)},
        "dcat:contactPoint": {"@type": "vcard:Organization", "vcard:fn": department},
        "dcat:keyword": [_zh(t) for t in resource.tags or []],
        "dct:accrualPeriodicity": f"{EU}/frequency/{FREQUENCY[UpdateCycle(resource.update_cycle)]}",
        "dct:accessRights": f"{EU}/access-right/{ACCESS_RIGHTS[open_attr]}",
        "dct:issued": resource.created_at.isoformat(),
        "dct:modified": resource.updated_at.isoformat(),
        "cityhub:grade": grade.value,
        "cityhub:gradeLabel": _zh(grade.label),
        "cityhub:sharingAttribute": sharing.value,
        "cityhub:sharingLabel": _zh(sharing.label),
        "cityhub:sharingConditions": resource.sharing_conditions,
        "cityhub:openAttribute": open_attr.value,
        "cityhub:fields": [
            {"cityhub:name": f.name, "dct:title": _zh(f.title or f.name), "cityhub:type": f.type.value}
            for f in sources.fields_of(resource)
        ],
        "dcat:distribution": [
            {
                "@id": f"{uri}#api",
                "@type": "dcat:Distribution",
                "dct:title": _zh(f"{resource.name}（接口）"),
                "dcat:accessURL": uri,
                "dcat:mediaType": "https://www.iana.org/assignments/media-types/application/json",
                "dct:format": resource.format,
            }
        ],
    }


def catalog(session: Session, resources: Sequence[CatalogResource], base_url: str) -> dict[str, Any]:
    """The catalog document: one ``dcat:Catalog`` listing the resources as datasets."""
    base = base_url.rstrip("/")
    names = service.department_names(session, (r.department_id for r in resources))
    return {
        "@context": CONTEXT,
        "@id": f"{base}/api/v1/catalog/dcat",
        "@type": "dcat:Catalog",
        "dct:title": _zh("公共数据资源目录（一本账）"),
        "dct:description": _zh("cityhub public data resource catalog"),
        "dct:modified": clock.now().isoformat(),
        "dcat:dataset": [dataset(r, names.get(r.department_id, ""), base) for r in resources],
    }
