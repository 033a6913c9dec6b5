"""``CaseRepository``: case records in and out of the ``cases`` table, on one session.

Each case is stored as its document (``hub.store.case_codec``: versioned, upgraded on load)
plus the columns lists filter on. Updates
are compare-and-swap on ``version`` so that two writers never overwrite each other.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from hub.cases import FINAL_CASE_STATUSES, Case, CaseModel, CaseStatus, utcnow
from hub.errors import Conflict
from hub.mappings.patient import patient_id as case_patient_resource_id
from hub.store import case_codec
from hub.store.case_tables import case_identifiers, cases, open_cases
from hub.store.conflicts import ConcurrentWrite
from hub.store.reading import first_row


class StaleCase(ConcurrentWrite):
    """The case changed since it was read: its version is no longer the expected one."""

    def __init__(self, case_id: str, expected: int) -> None:
        super().__init__(f"case {case_id} is no longer at version {expected}")
        self.case_id = case_id
        self.expected = expected


class OpenCaseExists(Conflict):
    """The patient already has an open case in this program (409 naming it)."""

    def __init__(self, case_id: str, program: str | None) -> None:
        where = f"program {program!r}" if program else "no program"
        super().__init__(f"the patient already has the open case {case_id} in {where}: "
                         "one open case per patient and program", path="patient")
        self.case_id = case_id


class CaseMissing(LookupError):
    """No case with this id."""


@dataclass
class CaseFilter:
    """What ``list`` selects; every set criterion must hold."""

    status: list[CaseStatus] = field(default_factory=list)
    identifier: str | None = None  # "system|value", "|value" or a bare value
    model: CaseModel | None = None
    program: str | None = None
    overdue_as_of: date | None = None  # next review due before this date
    due_before: date | None = None  # next review due before this date (open cases have one)
    name: str | None = None  # every word in the patient's name (case-insensitive)
    case_manager: str | None = None  # the case manager's name (case-insensitive)


#: Sort keys of ``list``: a column name, ``-`` first for descending; ties by id.
SORTS = ("opened_at", "next_review_due")


@dataclass
class CasePage:
    items: list[Case]
    total: int
    limit: int
    offset: int


#: One case's document by id (``get``), as its JSON text (``case_codec.decode_text``: not
#: parsed to a dict by the column's type first): one statement for every read, built once.
#: The column is ``json`` on PostgreSQL (the text as written), text on SQLite.
_GET = sa.select(sa.cast(cases.c.document, sa.Text)).where(
    cases.c.id == sa.bindparam("case_id"))


class CaseRepository:
    """Case records on a SQLAlchemy session; the unit of work commits."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # -- writes --

    def add(self, case: Case, *, checked: bool = False) -> None:
        """Insert a new case at its current version; OpenCaseExists if the patient has an
        open case in its program (``checked``: ``check_open`` said no already; two
        concurrent claims still collide on the primary key, re-run by ``retrying``)."""
        if not checked:
            self.check_open(case)
        columns = self._columns(case)  # built before the first INSERT takes SQLite's lock
        self.session.execute(_INSERT_CASE, [{"id": case.id, "version": case.version,
                                             **columns}])
        self._write_identifiers(case)
        key = self.open_key(case)
        if key is not None:  # a new id: no claim of its own to drop first
            self.session.execute(_INSERT_OPEN, [_open_row(case.id, key)])

    @staticmethod
    def open_key(case: Case) -> tuple[str, str] | None:
        """(patient, program) of the open-case claim ``case`` holds (None: it is closed)."""
        if case.status in FINAL_CASE_STATUSES:
            return None
        return open_case_patient(case.id, case.patient_id), case.program or ""

    def check_open(self, case: Case) -> None:
        """OpenCaseExists if another case holds the open-case claim ``case`` would take."""
        key = self.open_key(case)
        if key is None:
            return
        holder = self.open_case_of(*key)
        if holder is not None and holder != case.id:
            raise OpenCaseExists(holder, case.program)

    def update(self, case: Case, expected_version: int) -> None:
        """Store ``case`` (already at its new version) if the stored one is at
        ``expected_version``; else raise StaleCase (or CaseMissing)."""
        result = cast(CursorResult[Any], self.session.execute(
            sa.update(cases)
            .where(cases.c.id == case.id, cases.c.version == expected_version)
            .values(version=case.version, **self._columns(case))))
        if result.rowcount != 1:
            if self._version_of(case.id) is None:
                raise CaseMissing(case.id)
            raise StaleCase(case.id, expected_version)
        self.session.execute(sa.delete(case_identifiers)
                             .where(case_identifiers.c.case_id == case.id))
        self._write_identifiers(case)
        self._claim_open(case)

    # -- reads --

    def get(self, case_id: str) -> Case | None:
        """The case with this id, or None."""
        row = first_row(self.session, _GET, {"case_id": case_id})
        return None if row is None else case_codec.decode_text(row[0])

    def list(self, criteria: CaseFilter | None = None, *, limit: int = 20,
             offset: int = 0, sort: str = "opened_at") -> CasePage:
        """Cases matching ``criteria`` in ``sort`` order (``SORTS``, ``-`` for descending;
        cases without a next review last), ties by id; and the total. Filtered, sorted and
        paged in SQL."""
        where = self._where(criteria or CaseFilter())
        total = self.session.execute(
            sa.select(sa.func.count()).select_from(cases).where(*where)).scalar_one()
        rows = self.session.execute(
            sa.select(cases.c.document).where(*where)
            .order_by(*self._order(sort)).limit(limit).offset(offset)).all()
        return CasePage([case_codec.decode(r.document) for r in rows], total, limit, offset)

    def count(self) -> int:
        return self.session.execute(sa.select(sa.func.count()).select_from(cases)).scalar_one()

    # -- helpers --

    def _version_of(self, case_id: str) -> int | None:
        return self.session.execute(
            sa.select(cases.c.version).where(cases.c.id == case_id)).scalar_one_or_none()

    def _columns(self, case: Case) -> dict:
        return {
            "status": case.status.value,
            "model": case.model.value,
            "program": case.program,
            "setting": case.setting.value,
            "next_review_due": case.next_review_due,
            "opened_at": case.opened_at,
            "updated_at": utcnow(),
            "document": case_codec.encode(case),
            "patient_name": patient_name(case),
            "case_manager": (case.case_manager.name.strip().lower() or None
                             if case.case_manager is not None else None),
        }

    @staticmethod
    def _order(sort: str) -> builtins.list[sa.ColumnElement[Any]]:
        descending = sort.startswith("-")
        name = sort.lstrip("-")
        if name not in SORTS:
            raise ValueError(f"unknown sort {sort!r}")
        column = cases.c[name]
        key = column.desc() if descending else column.asc()
        # NULLs (closed cases have no next review) last either way, the same on both databases
        return [column.is_(None), key, cases.c.id.desc() if descending else cases.c.id]

    def open_case_of(self, patient_id: str, program: str | None) -> str | None:
        """The id of the open case of this patient in this program, if any."""
        return self.session.execute(sa.select(open_cases.c.case_id).where(
            open_cases.c.patient_id == patient_id,
            open_cases.c.program == (program or ""))).scalar_one_or_none()

    def _claim_open(self, case: Case) -> None:
        """Hold the (patient, program) row while the case is open, else give it up.

        OpenCaseExists if another case holds it; two concurrent claims collide on the
        primary key (IntegrityError, re-run by ``hub.store.concurrency.retrying``)."""
        self.session.execute(sa.delete(open_cases).where(open_cases.c.case_id == case.id))
        key = self.open_key(case)
        if key is None:
            return
        self.check_open(case)
        self.session.execute(_INSERT_OPEN, [_open_row(case.id, key)])

    def rebuild_open_cases(self) -> OpenCaseRebuild:
        """Make ``open_cases`` hold a row per open case (a backfill of cases stored before
        the table, or keyed otherwise): a case keeps a row it holds rightly; a missing one
        goes to the oldest open case of that patient and program, the others sharing it are
        reported (``conflicts``: a person closes or merges them). Rows of closed cases go."""
        out = OpenCaseRebuild()
        held = {r.case_id: (r.patient_id, r.program) for r in self.session.execute(
            sa.select(open_cases))}
        wanted: dict[tuple[str, str], builtins.list[str]] = {}
        final = [s.value for s in FINAL_CASE_STATUSES]
        for row in self.session.execute(
                sa.select(cases.c.id, cases.c.program, cases.c.document)
                .where(cases.c.status.not_in(final)).order_by(cases.c.opened_at, cases.c.id)):
            doc = row.document if isinstance(row.document, dict) else {}
            key = (open_case_patient(row.id, doc.get("patient_id")), row.program or "")
            wanted.setdefault(key, []).append(row.id)
        rightful = {key: next((i for i in ids if held.get(i) == key), ids[0])
                    for key, ids in wanted.items()}
        keep = {holder: key for key, holder in rightful.items()}
        for case_id, key in held.items():
            if keep.get(case_id) != key:
                self.session.execute(sa.delete(open_cases).where(
                    open_cases.c.case_id == case_id))
                out.dropped += 1
        for key, holder in rightful.items():
            if held.get(holder) != key:
                self.session.execute(sa.insert(open_cases).values(
                    patient_id=key[0], program=key[1], case_id=holder))
                out.added += 1
            others = [i for i in wanted[key] if i != holder]
            if others:
                out.conflicts.append((key[0], key[1], holder, others))
        return out

    def _write_identifiers(self, case: Case) -> None:
        pairs = {(i.system, i.value) for i in case.patient.identifiers}
        if pairs:
            self.session.execute(sa.insert(case_identifiers), [
                {"case_id": case.id, "system": s, "value": v} for s, v in sorted(pairs)])

    @staticmethod
    def _where(f: CaseFilter) -> builtins.list[sa.ColumnElement[bool]]:
        where: builtins.list[sa.ColumnElement[bool]] = []
        if f.status:
            where.append(cases.c.status.in_([CaseStatus(s).value for s in f.status]))
        if f.model is not None:
            where.append(cases.c.model == CaseModel(f.model).value)
        if f.program is not None:
            where.append(cases.c.program == f.program)
        if f.overdue_as_of is not None:
            where.append(cases.c.next_review_due < f.overdue_as_of)
            where.append(cases.c.status.not_in([s.value for s in FINAL_CASE_STATUSES]))
        if f.due_before is not None:
            where.append(cases.c.next_review_due < f.due_before)
        if f.name:
            for word in f.name.lower().split():
                where.append(cases.c.patient_name.like(f"%{_escape_like(word)}%", escape="\\"))
        if f.case_manager:
            where.append(cases.c.case_manager == f.case_manager.strip().lower())
        if f.identifier:
            system, sep, value = f.identifier.partition("|")
            if not sep:
                system, value = "", f.identifier
            match = [case_identifiers.c.case_id == cases.c.id,
                     case_identifiers.c.value == value]
            if system:
                match.append(case_identifiers.c.system == system)
            where.append(sa.exists().where(*match))
        return where


@dataclass
class OpenCaseRebuild:
    """What ``rebuild_open_cases`` changed; ``conflicts``: (patient, program, the case that
    keeps the row, the other open cases of that patient and program)."""

    added: int = 0
    dropped: int = 0
    conflicts: builtins.list[tuple[str, str, str, builtins.list[str]]] = field(
        default_factory=list)


_INSERT_CASE = sa.insert(cases)
_INSERT_OPEN = sa.insert(open_cases)


def _open_row(case_id: str, key: tuple[str, str]) -> dict[str, str]:
    """The ``open_cases`` row of an open case: one per patient and program."""
    return {"patient_id": key[0], "program": key[1], "case_id": case_id}


def open_case_patient(case_id: str, patient_id: str | None) -> str:
    """The patient of the one-open-case key: the Patient the case was matched to
    (``Case.patient_id``), else the Patient projected for the case (a case opened before
    patients were matched): the one whose identifiers ``patient_identities`` names."""
    return patient_id or case_patient_resource_id(case_id)


def patient_name(case: Case) -> str | None:
    """The lowercased ``given family`` the worklist's ``name`` filter matches."""
    words = [*case.patient.name.given, case.patient.name.family]
    return " ".join(w.strip() for w in words if w and w.strip()).lower() or None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
