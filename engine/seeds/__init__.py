"""Parsers for the organisation seed texts: org directory, service catalogue, indicators."""

from engine.seeds.indicator_catalogue import (
    Indicator,
    IndicatorCatalogueParse,
    IndicatorUnit,
    Objective,
    Project,
    Risk,
    Strategy,
    Target,
    parse_indicator_catalogue,
)
from engine.seeds.org_directory import (
    OrgDirectoryParse,
    OrgUnit,
    normalise_position,
    parse_org_directory,
)
from engine.seeds.service_catalogue import (
    ResponsibleUnit,
    Service,
    ServiceCatalogueParse,
    UserGroup,
    parse_service_catalogue,
)

__all__ = [
    "Indicator",
    "IndicatorCatalogueParse",
    "IndicatorUnit",
    "Objective",
    "OrgDirectoryParse",
    "OrgUnit",
    "Project",
    "ResponsibleUnit",
    "Risk",
    "Service",
    "ServiceCatalogueParse",
    "Strategy",
    "Target",
    "UserGroup",
    "normalise_position",
    "parse_indicator_catalogue",
    "parse_org_directory",
    "parse_service_catalogue",
]
