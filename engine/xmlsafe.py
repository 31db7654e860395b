"""Parse untrusted BPMN/DMN XML: no DTD, no entities, no network, bounded size."""

from __future__ import annotations

from lxml import etree

MAX_XML_BYTES = 2 * 1024 * 1024


class UnsafeXml(ValueError):
    """The document is refused before any BPMN meaning is read from it."""

    def __init__(self, reason: str, line: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.line = line


def parse_untrusted_xml(data: bytes, max_bytes: int = MAX_XML_BYTES) -> etree._ElementTree:
    """Parse ``data`` with every dangerous XML feature off; refuse any DOCTYPE outright."""
    if len(data) > max_bytes:
        raise UnsafeXml(f"El archivo supera el tamaño máximo ({max_bytes // 1024} KB)")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_comments=True, remove_pis=True,
    )
    try:
        root = etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as error:
        raise UnsafeXml(f"XML mal formado: {error.msg}", error.lineno) from None
    tree = root.getroottree()
    info = tree.docinfo
    # BPMN and DMN never need a DTD; any DOCTYPE is an entity trick waiting to happen.
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise UnsafeXml("No se permite DOCTYPE ni DTD en BPMN/DMN", 1)
    for element in root.iter():
        if isinstance(element, etree._Entity):
            raise UnsafeXml("No se permiten entidades XML", element.sourceline)
    return tree
