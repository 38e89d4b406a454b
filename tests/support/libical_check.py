"""Check an iCalendar text with libical, the C library behind Evolution.

Run by the SYSTEM Python (``/usr/bin/python3``, where Debian's GObject introspection for
libical lives), not the project's: ``/usr/bin/python3 libical_check.py < feed.ics``. It parses
the text, runs libical's RFC 5546 restriction check (``check_restrictions``: what each
``METHOD`` requires of each component) and prints one JSON object:
``{"restrictions_ok": bool, "errors": ["COMPONENT: message", …], "events": N}``, where the
errors are every ``X-LIC-ERROR`` property libical attached while parsing or checking.
Exit 3 when libical's introspection is not available here (``tests.support.calendars`` skips).
"""

import json
import sys

try:
    import gi

    gi.require_version("ICalGLib", "3.0")
    from gi.repository import ICalGLib
except (ImportError, ValueError) as exc:  # no gi, or no ICalGLib typelib
    sys.stdout.write(json.dumps({"unavailable": str(exc)}) + "\n")
    sys.exit(3)


def _errors(component, out):
    name = ICalGLib.Component.kind_to_string(component.isa())
    prop = component.get_first_property(ICalGLib.PropertyKind.XLICERROR_PROPERTY)
    while prop is not None:
        out.append(f"{name}: {prop.get_xlicerror()}")
        prop = component.get_next_property(ICalGLib.PropertyKind.XLICERROR_PROPERTY)
    child = component.get_first_component(ICalGLib.ComponentKind.ANY_COMPONENT)
    while child is not None:
        _errors(child, out)
        child = component.get_next_component(ICalGLib.ComponentKind.ANY_COMPONENT)
    return out


def main():
    text = sys.stdin.buffer.read().decode("utf-8")
    calendar = ICalGLib.Component.new_from_string(text)
    if calendar is None:
        sys.stdout.write(json.dumps({"restrictions_ok": False, "errors": ["unparsable"]}) + "\n")
        return
    ok = bool(calendar.check_restrictions())
    events = calendar.count_components(ICalGLib.ComponentKind.VEVENT_COMPONENT)
    report = {"restrictions_ok": ok, "errors": _errors(calendar, []), "events": events}
    sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
