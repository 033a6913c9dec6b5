"""merge_onto_previous: elements the case does not model survive a new version."""

from scenarios import river

from hub.fhir import parse_resource
from hub.mappings.case_bundle import case_to_fhir
from hub.mappings.merge import merge_onto_previous


def _new(rtype):
    return next(r for r in case_to_fhir(river()) if r["resourceType"] == rtype)


def test_unmodelled_elements_identifiers_extensions_and_meta_are_kept():
    new = _new("Patient")
    previous = dict(new)
    previous.update({
        "meta": {"versionId": "3", "profile": ["http://hl7.org/fhir/us/core/StructureDefinition/"
                                               "us-core-patient"]},
        "maritalStatus": {"text": "Married"},
        "extension": [{"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
                       "valueCode": "M"},
                      {"url": "https://fhir-case-hub.org/fhir/StructureDefinition/old",
                       "valueString": "stale hub extension"}],
        "identifier": new["identifier"] + [{"system": "http://hospital.example/mrn",
                                            "value": "H-1"}],
        "gender": "female",
    })
    merged = merge_onto_previous(new, previous)
    assert merged["maritalStatus"] == {"text": "Married"}
    assert merged["gender"] == "male"  # modelled: the case wins
    assert merged["extension"] == [previous["extension"][0]]  # stale hub ext dropped
    assert {"system": "http://hospital.example/mrn", "value": "H-1"} in merged["identifier"]
    assert len(merged["identifier"]) == len(new["identifier"]) + 1
    assert merged["meta"] == {"profile": previous["meta"]["profile"]}
    parse_resource(merged)


def test_narrative_kept_only_when_the_new_version_has_none():
    new = _new("Goal")
    previous = {**new, "text": {"status": "additional", "div": "<div xmlns=\"http://www.w3.org/"
                                                                "1999/xhtml\">theirs</div>"}}
    assert merge_onto_previous(new, previous)["text"] == new["text"]
    bare = {k: v for k, v in new.items() if k != "text"}
    assert merge_onto_previous(bare, previous)["text"] == previous["text"]


def test_removed_modelled_element_stays_removed():
    new = _new("Goal")
    previous = {**new, "target": [{"dueDate": "2020-01-01"}]}
    del new["target"]
    assert "target" not in merge_onto_previous(new, previous)
    previous["target"].append({"measure": {"text": "weight"}, "detailQuantity": {"value": 70}})
    assert merge_onto_previous(new, previous)["target"] == [previous["target"][1]]


def test_backbone_items_keep_unmodelled_parts_by_element_id():
    new = _new("CarePlan")
    previous = {**new, "activity": [dict(a) for a in new["activity"]]}
    previous["activity"][0]["outcomeCodeableConcept"] = [{"text": "better"}]
    previous["activity"][0]["extension"] = [{"url": "http://example.org/x", "valueString": "y"}]
    previous["instantiatesUri"] = ["http://example.org/protocol"]
    merged = merge_onto_previous(new, previous)
    assert merged["activity"][0]["outcomeCodeableConcept"] == [{"text": "better"}]
    assert {"url": "http://example.org/x", "valueString": "y"} in merged["activity"][0]["extension"]
    assert merged["instantiatesUri"] == ["http://example.org/protocol"]
    parse_resource(merged)


def test_no_previous_version():
    new = _new("CareTeam")
    assert merge_onto_previous(new, None) == new


def test_a_clients_team_name_and_plan_title_stay_the_hubs_own_name_follows_the_case():
    team = _new("CareTeam")
    assert merge_onto_previous(team, {**team, "name": "Discharge team"})["name"] == \
        "Discharge team"
    renamed = {**team, "name": "Care team of an old name"}  # the hub's, the patient renamed
    assert merge_onto_previous(team, renamed)["name"] == team["name"]
    plan = _new("CarePlan")
    assert merge_onto_previous(plan, {**plan, "title": "Discharge plan"})["title"] == \
        "Discharge plan"


def test_a_condition_keeps_the_clients_annotated_notes_while_they_say_the_same():
    condition = {"resourceType": "Condition", "id": "c1", "note": [{"text": "a"}, {"text": "b"}]}
    flat = {**condition, "note": [{"text": "a\n\nb"}]}  # the case keeps one text
    assert merge_onto_previous(flat, condition)["note"] == condition["note"]
    changed = {**condition, "note": [{"text": "a\n\nc"}]}
    assert merge_onto_previous(changed, condition)["note"] == changed["note"]


def test_a_plan_note_written_without_an_id_keeps_its_author_reference():
    plan = _new("CarePlan")
    note = {"id": "n1", "authorString": "Dr Vale", "time": "2026-11-29T09:00:00Z", "text": "rest"}
    theirs = {"authorReference": {"reference": "Practitioner/p1", "display": "Dr Vale"},
              "text": "rest"}
    merged = merge_onto_previous({**plan, "note": [note]}, {**plan, "note": [theirs]})
    assert merged["note"] == [{"id": "n1", "time": note["time"], "text": "rest",
                               "authorReference": theirs["authorReference"]}]
    parse_resource(merged)
