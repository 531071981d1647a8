#!/usr/bin/python3
"""Write valid/NAME.json for every valid/NAME.toml, using Python's tomllib (3.11+) as an
independent reference implementation; review the diff before committing. With --check,
only report documents whose JSON differs, is missing, or that tomllib rejects.

The JSON tags every scalar with its TOML type and keeps table keys in document order:
{"type": "integer"|"float"|"string"|"bool", "value": "<text>"}; floats are written by
repr() ("inf", "-inf", "nan", "1e-07") and compared by value. Table and array nesting map to
JSON objects and arrays. tomllib rejects a byte order mark; nvbind's parser accepts one at
the very start, so the file is decoded as utf-8-sig here."""
import json
import math
import pathlib
import sys
import tomllib

HERE = pathlib.Path(__file__).resolve().parent


def tagged(v):
    if isinstance(v, dict):
        return {k: tagged(x) for k, x in v.items()}
    if isinstance(v, list):
        return [tagged(x) for x in v]
    if isinstance(v, bool):
        return {"type": "bool", "value": "true" if v else "false"}
    if isinstance(v, int):
        return {"type": "integer", "value": str(v)}
    if isinstance(v, float):
        text = "nan" if math.isnan(v) else repr(v)
        return {"type": "float", "value": text}
    if isinstance(v, str):
        return {"type": "string", "value": v}
    raise TypeError(f"unsupported value {v!r} (dates are not part of this suite)")


def main():
    check = "--check" in sys.argv[1:]
    bad = 0
    for toml in sorted((HERE / "valid").glob("*.toml")):
        out = toml.with_suffix(".json")
        try:
            data = tagged(tomllib.loads(toml.read_bytes().decode("utf-8-sig")))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, TypeError) as e:
            print(f"{toml.name}: rejected: {e}")
            bad += 1
            continue
        text = json.dumps(data, indent=2, ensure_ascii=True) + "\n"
        if check:
            if not out.exists() or out.read_text() != text:
                print(f"{out.name}: differs from tomllib's reading")
                bad += 1
        else:
            out.write_text(text)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
