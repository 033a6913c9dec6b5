"""``write_case`` re-runs a case-API service on a concurrent change, and every run gets its
own fresh copies of the arguments: services change the objects they are given, so a
re-run must start from what the request sent, and the caller's objects stay as they were.
"""

from __future__ import annotations

import copy
from datetime import date

from case_data import river

from hub.routes.case_input import copies, write_case
from hub.schemas import case_input_schema
from hub.store.conflicts import ConcurrentWrite


def _changing_service(seen: list, fail_first: int = 1):
    """A service that records what each run got, changes it all, and loses the race on
    its first ``fail_first`` runs."""

    def service(uow, case, notes, *, by, when):
        seen.append(copy.deepcopy((case, notes, by, when)))
        case.patient.name.family = "Changed"
        case.referrals.clear()
        notes.append("changed")
        notes[0]["text"] = "changed"
        if len(seen) <= fail_first:
            raise ConcurrentWrite("someone else was first")
        return case, notes

    service.__name__ = "changing_service"
    return service


def test_each_run_gets_fresh_copies_of_what_the_request_sent(app):
    case = case_input_schema().load(river())
    notes = [{"text": "first"}]
    before = copy.deepcopy((case, notes, "client-1", date(2026, 11, 30)))
    seen: list = []
    with app.test_request_context():
        done, done_notes = write_case(_changing_service(seen, fail_first=2), case, notes,
                                      by="client-1", when=date(2026, 11, 30))
    assert len(seen) == 3
    assert seen[0] == seen[1] == seen[2] == before  # each run from the request's objects
    assert (case, notes) == before[:2]  # the caller's objects untouched
    assert done is not case and done.patient.name.family == "Changed"
    assert done_notes == [{"text": "changed"}, "changed"]


def test_arguments_that_cannot_be_pickled_are_deep_copied():
    class Local:  # a local class: pickle cannot name it, deepcopy copies it
        def __init__(self) -> None:
            self.items = [{"n": 1}]

    local, call = Local(), lambda: 1
    fresh = copies(local, call)
    first, second = fresh(), fresh()
    assert first[0].items == second[0].items == local.items
    assert first[0] is not local and first[0].items[0] is not local.items[0]
    assert first[0] is not second[0]
    assert first[1] is call  # functions are not copied (as deepcopy does)


def test_shared_objects_stay_shared_within_one_copy():
    part = {"id": "p1"}
    fresh = copies([part, part], {"again": part})
    listed, named = fresh()
    assert listed[0] is listed[1] is named["again"]
    assert listed[0] == part and listed[0] is not part
