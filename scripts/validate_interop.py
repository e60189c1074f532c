#!/usr/bin/env python3
"""Independent validation of what the interop tests produced (AFTERCARE_INTEROP_DIR).

- Every `bundle-*.json` must parse as a FHIR R4 Bundle with the `fhir.resources` package (its
  R4B models: R4B is R4 plus errata; every resource we emit, Media included, is unchanged), and
  every entry's resource must validate as its own resource type.
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


def check_bundle(path: pathlib.Path) -> str:
    raw = json.loads(path.read_text())
    bundle = Bundle.model_validate(raw)
    assert bundle.type == "collection", bundle.type
    kinds = {}
    for entry in raw["entry"]:
        resource = entry["resource"]
        kind = resource["resourceType"]
        get_fhir_model_class(kind).model_validate(resource)
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
    bundles = sorted(folder.glob("bundle-*.json"))
    calendars = sorted(folder.glob("*.ics"))
    if not bundles or not calendars:
        print(f"nothing to validate in {folder}: {bundles} {calendars}", file=sys.stderr)
        return 1
    failed = False
    for path in bundles + calendars:
        try:
            summary = check_bundle(path) if path.suffix == ".json" else check_calendar(path)
            print(f"valid  {path.name}: {summary}")
        except Exception as e:  # noqa: BLE001 - report every file
            failed = True
            print(f"INVALID {path.name}: {e}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
