"""Pure checks of hostile input: JSON nesting depth before parsing, then the strings,
Bundle sizes and batch work of a parsed body (no Flask, no database).

Each check returns ``None`` or a ``Problem`` (message, FHIRPath-like path, status) so that
the caller answers 413/400 before any work is done.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

#: Longest system/value the token and identifier columns hold (VARCHAR(255)).
TOKEN_MAX = 255
#: Largest integer PostgreSQL's INTEGER columns and LIMIT/OFFSET arithmetic take.
INT4_MAX = 2**31 - 1
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_KEEP = b"[]{}"
_DROP = bytes(b for b in range(256) if b not in _KEEP)
_EMPTY_PAIR = re.compile(rb"\{\}|\[\]")
#: String-valued keys that carry a search URL inside a Bundle or reference.
_URL_KEYS = frozenset({"url", "ifNoneExist", "ifMatch", "ifNoneMatch", "ifModifiedSince",
                       "reference"})


@dataclass(frozen=True)
class Problem:
    message: str
    path: str | None = None
    status: int = 400


def nesting_depth_exceeds(raw: bytes, limit: int) -> bool:
    """Whether the JSON text ``raw`` nests arrays/objects deeper than ``limit``.

    Runs on the bytes, before any parser: strings are cut out, only brackets kept, and
    innermost pairs removed one level per pass (at most ``limit`` passes).

    Each pass that removes something removes two brackets at least, so a text with no more
    than ``2 * limit`` brackets in all (strings included) cannot be left with any after
    ``limit`` passes: the answer is False without cutting the strings out (most bodies).
    """
    if len(raw.translate(None, _DROP)) <= 2 * limit:
        return False
    brackets = _STRING.sub(b"", raw).translate(None, _DROP)
    for _ in range(limit):
        if not brackets:
            return False
        brackets, count = _EMPTY_PAIR.subn(b"", brackets)
        if count == 0:
            return False  # unbalanced: not JSON, the parser will say so
    return bool(brackets)


def _fmt(path: tuple, api: str) -> str:
    """``Patient.name[0].family`` (FHIR) or ``patient.names.0.family`` (case API)."""
    if api == "case":
        return ".".join(str(p) for p in path if p != "")
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _string_problem(text: str, path: tuple, key, max_length: int, api: str) -> Problem | None:
    problem = _string_fault(text, path, key, max_length, api)
    if problem is None:
        return None
    message, status = problem
    where = _fmt(path, api) or "(body)"  # only for a string at fault: most are not
    return Problem(f"{where} {message}", where, status)


def _string_fault(text: str, path: tuple, key, max_length: int, api: str
                  ) -> tuple[str, int] | None:
    """What is wrong with one string (its path aside) and the status, or None."""
    if "\x00" in text:
        return "contains a NUL character", 400
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate (not Unicode text)", 400
    if len(text) > max_length:
        return f"is longer than {max_length} characters", 413
    if key == "system" and len(text) > TOKEN_MAX:
        return f"is longer than {TOKEN_MAX} characters", 400
    if api == "case" and key == "value" and len(path) > 2 \
            and path[-3] in ("identifiers", "identifier") and len(text) > TOKEN_MAX:
        return f"is longer than {TOKEN_MAX} characters", 400
    if key in _URL_KEYS and "%00" in text.lower():
        return "contains an encoded NUL character", 400
    return None


def check_strings(data, root: str, max_length: int, api: str = "fhir") -> Problem | None:
    """The first bad string (or key) in ``data``: NUL, lone surrogate, too long.

    A quick look first (``_may_have_fault``); only a body it cannot clear is walked with
    the paths that name the first fault (``first_string_fault``)."""
    if not _may_have_fault(data, max_length, api):
        return None
    return first_string_fault(data, root, max_length, api)


#: Strings no longer than this cannot be too long for any check of ``_string_fault``
#: (keys: 256; ``system`` and identifier values: ``TOKEN_MAX``; all: ``max_length``).
_SHORT = TOKEN_MAX


def _may_have_fault(data, max_length: int, api: str) -> bool:
    """False when no string or key of ``data`` can be at fault in ``_string_fault``: one walk
    without paths, the long strings checked against the limits of their key, the NULs,
    lone surrogates and encoded NULs (``%00``, in any string) looked for in all the text at
    once. True means: walk again with paths (a fault, or maybe one)."""
    short = min(_SHORT, max_length)
    texts: list[str] = []
    stack: list[tuple[object, object]] = [(data, None)]
    while stack:
        node, key = stack.pop()
        if isinstance(node, str):
            if len(node) > short and (len(node) > max_length or key == "system"
                                      or (api == "case" and key == "value")):
                return True
            texts.append(node)
        elif isinstance(node, dict):
            for k, v in node.items():
                if len(k) > short:
                    return True
                texts.append(k)
                stack.append((v, k))
        elif isinstance(node, list):
            stack.extend((v, key) for v in node)
    text = "".join(texts)
    if "\x00" in text or "%00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def first_string_fault(data, root: str, max_length: int, api: str = "fhir"
                       ) -> Problem | None:
    """``check_strings``' answer by the full walk: the first bad string or key, its path."""
    stack: list[tuple[object, tuple, object]] = [(data, (root,), None)]
    while stack:
        node, path, key = stack.pop()
        if isinstance(node, str):
            problem = _string_problem(node, path, key, max_length, api)
            if problem:
                return problem
        elif isinstance(node, dict):
            for k, v in node.items():
                problem = _string_problem(k, path, None, 256, api)
                if problem:
                    return Problem(f"a key of {problem.message}", problem.path)
                stack.append((v, (*path, k), k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                stack.append((v, (*path, i), key))
    return None


def _page_size(query: list[tuple[str, str]], default: int, maximum: int) -> int:
    for name, value in query:
        if name == "_count":
            try:
                return max(0, min(int(value), maximum))
            except ValueError:
                return default
    return default


def check_bundle(bundle: dict, *, max_entries: int, max_searches: int, max_results: int,
                 default_count: int, max_count: int) -> Problem | None:
    """Entries of a Bundle, and the searches of a batch/transaction and their page sizes."""
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return None
    if len(entries) > max_entries:
        return Problem(f"the Bundle has {len(entries)} entries; at most {max_entries} "
                       f"are accepted", "Bundle.entry", 413)
    if bundle.get("type") not in ("batch", "transaction"):
        return None
    searches = results = 0
    for entry in entries:
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict) or str(request.get("method", "")).upper() \
                not in ("GET", "HEAD"):
            continue
        url = request.get("url")
        searches += 1
        _, _, qs = str(url).partition("?")
        results += _page_size(parse_qsl(qs, keep_blank_values=True), default_count, max_count)
    if searches > max_searches:
        return Problem(f"the Bundle asks {searches} reads/searches; at most {max_searches} "
                       f"per batch", "Bundle.entry", 413)
    if results > max_results:
        return Problem(f"the Bundle's searches ask up to {results} results; at most "
                       f"{max_results} per batch (lower _count)", "Bundle.entry", 413)
    return None


def only_reads(bundle: dict) -> bool:
    """Whether a batch Bundle holds only GET/HEAD entries (nothing is written)."""
    entries = bundle.get("entry") or []
    return bundle.get("type") == "batch" and all(
        isinstance(e, dict) and isinstance(e.get("request"), dict)
        and str(e["request"].get("method", "")).upper() in ("GET", "HEAD") for e in entries)


def check_integer_param(name: str, value: str, maximum: int) -> Problem | None:
    """An integer query parameter (``_offset``, ``offset``) within [0, maximum]."""
    text = value.strip()
    if text.lstrip("+-").isdigit() and len(text) <= 12 and int(text) <= maximum:
        return None
    if text.lstrip("+-").isdigit():
        return Problem(f"{name} may be at most {maximum}", name)
    return None  # not an integer: the endpoint answers its own 400
