"""The narrative's ``div``: well-formed XHTML of the restricted FHIR set (txt-1, txt-2).

R4: a ``div`` element in the XHTML namespace, no DOCTYPE/entities beyond XML's own five
(``&reg;`` is an error), no head/body, scripts, forms, base/link, frames, iframes or objects,
no event (``on*``) attributes, and some non-whitespace content or an image.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

XHTML_NS = "{http://www.w3.org/1999/xhtml}"
_FORBIDDEN = frozenset({"head", "body", "html", "script", "form", "input", "button", "select",
                        "textarea", "base", "link", "frame", "frameset", "iframe", "object",
                        "applet", "embed", "style", "meta", "title"})


def xhtml_problem(text: str) -> str | None:
    """Why ``text`` is not a valid narrative div, or None."""
    if "<!" in text and ("<!DOCTYPE" in text.upper() or "<!ENTITY" in text.upper()):
        return "the narrative may not declare a DOCTYPE or entities"
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        return f"the narrative is not well-formed XHTML ({exc})"
    if root.tag != XHTML_NS + "div":
        return "the narrative must be a div in the XHTML namespace (txt-1)"
    has_content = False
    for node in root.iter():
        tag = node.tag
        if not isinstance(tag, str) or not tag.startswith(XHTML_NS):
            return f"element {tag} is not XHTML (txt-1)"
        name = tag[len(XHTML_NS):]
        if name in _FORBIDDEN:
            return f"<{name}> is not allowed in a narrative (txt-1)"
        for attr in node.attrib:
            if attr.lower().startswith("on"):
                return f"event attribute {attr} is not allowed in a narrative (txt-1)"
        if name == "img" or (node.text and node.text.strip()) or \
                (node is not root and node.tail and node.tail.strip()):
            has_content = True
    if not has_content:
        return "the narrative has no content (txt-2)"
    return None


__all__ = ["xhtml_problem"]
