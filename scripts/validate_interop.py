#!/usr/bin/env python3
"""Independent validation of what the interop tests produced (AFTERCARE_INTEROP_DIR).

- Every `bundle-*.json` must parse as a FHIR R4 Bundle with the `fhir.resources` package (its
  R4B models: R4B is R4 plus errata; every resource we emit, Media included, is unchanged), and
  every entry's resource must validate as its own resource type.
- `questionnaire-*.json` must validate as a Questionnaire and `capability-*.json` as a
  CapabilityStatement; every QuestionnaireResponse in the bundles must name a published
  Questionnaire (canonical `url|version`), answer only its items, with their texts, and each coded
  answer must be one of the item's answer options (integers within minValue/maxValue).
- Every `*.ics` must parse with the `icalendar` package as RFC 5545, with the events, alarms and
  UTC times the tests expect.

Usage: scripts/validate_interop.py DIR   (exit status 1 on any failure, or if nothing was found)
"""
import json
import pathlib
import sys

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
import icalendar


QUESTIONNAIRES = {}


def check_resource(path: pathlib.Path) -> str:
    raw = json.loads(path.read_text())
    kind = raw["resourceType"]
    expected = "Questionnaire" if path.name.startswith("questionnaire-") else "CapabilityStatement"
    assert kind == expected, f"{kind} is not a {expected}"
    get_fhir_model_class(kind).model_validate(raw)
    if kind == "Questionnaire":
        QUESTIONNAIRES[f"{raw['url']}|{raw['version']}"] = raw
        return f"{len(raw['item'])} items"
    return f"{len(raw['rest'][0].get('resource', []))} resources, {len(raw['rest'][0].get('operation', []))} operations"


def check_response(qr: dict) -> None:
    canonical = qr.get("questionnaire")
    assert canonical in QUESTIONNAIRES, f"QuestionnaireResponse names an unpublished Questionnaire {canonical}"
    asked = {item["linkId"]: item for item in QUESTIONNAIRES[canonical]["item"]}
    for item in qr["item"]:
        question = asked.get(item["linkId"])
        assert question, f"{item['linkId']} is not an item of {canonical}"
        assert item.get("text") == question.get("text"), f"{item['linkId']}: {item.get('text')!r} != {question.get('text')!r}"
        for answer in item.get("answer", []):
            if "valueCoding" in answer:
                options = [(o["valueCoding"]["system"], o["valueCoding"]["code"]) for o in question.get("answerOption", [])]
                coding = answer["valueCoding"]
                assert (coding["system"], coding["code"]) in options, f"{item['linkId']}: {coding} is not an option"
            if "valueInteger" in answer:
                bounds = {e["url"].rsplit("/", 1)[-1]: e["valueInteger"] for e in question.get("extension", [])}
                value = answer["valueInteger"]
                assert bounds.get("minValue", value) <= value <= bounds.get("maxValue", value), f"{item['linkId']}: {value}"


def check_bundle(path: pathlib.Path) -> str:
    raw = json.loads(path.read_text())
    bundle = Bundle.model_validate(raw)
    assert bundle.type == "collection", bundle.type
    kinds = {}
    for entry in raw["entry"]:
        resource = entry["resource"]
        kind = resource["resourceType"]
        get_fhir_model_class(kind).model_validate(resource)
        if kind == "QuestionnaireResponse":
            check_response(resource)
        kinds[kind] = kinds.get(kind, 0) + 1
    expected = {"Patient", "CarePlan", "Procedure", "Device", "Observation", "Media", "CommunicationRequest",
                "Communication", "QuestionnaireResponse", "Consent", "Flag", "Appointment", "Organization"}
    missing = expected - kinds.keys()
    assert not missing, f"missing resource types: {sorted(missing)}"
    return ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))


def check_calendar(path: pathlib.Path) -> str:
    cal = icalendar.Calendar.from_ical(path.read_bytes())
    assert cal.get("VERSION") == "2.0" and cal.get("PRODID"), "VERSION and PRODID are required"
    events = list(cal.walk("VEVENT"))
    assert events, "no events"
    uids = [str(e.get("UID")) for e in events]
    assert len(uids) == len(set(uids)), "UIDs are not unique"
    alarms = 0
    for e in events:
        assert e.get("DTSTAMP") is not None and e.get("DTSTART") is not None, e
        start = e.decoded("DTSTART")
        if hasattr(start, "tzinfo") and hasattr(start, "hour"):
            assert start.tzinfo is not None and start.utcoffset().total_seconds() == 0, f"{start} is not UTC"
        alarms += len(list(e.walk("VALARM")))
    sessions = [e for e in events if str(e.get("UID")).startswith("session-")]
    assert sessions, "no session events"
    return f"{len(events)} events ({len(sessions)} sessions), {alarms} alarms"


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    folder = pathlib.Path(sys.argv[1])
    # Questionnaires first: the bundles' responses are checked against them.
    published = sorted(folder.glob("questionnaire-*.json")) + sorted(folder.glob("capability-*.json"))
    bundles = sorted(folder.glob("bundle-*.json"))
    calendars = sorted(folder.glob("*.ics"))
    if not bundles or not calendars or not published:
        print(f"nothing to validate in {folder}: {published} {bundles} {calendars}", file=sys.stderr)
        return 1
    failed = False
    for path in published + bundles + calendars:
        try:
            if path in published:
                summary = check_resource(path)
            else:
                summary = check_bundle(path) if path.suffix == ".json" else check_calendar(path)
            print(f"valid  {path.name}: {summary}")
        except Exception as e:  # noqa: BLE001 - report every file
            failed = True
            print(f"INVALID {path.name}: {e}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
