#!/usr/bin/env python3
"""Prints the imports between rooms (top-level modules of src/) that run up a floor.

The floors are shared/reference/layout.md's, with the rooms this crate has today placed
where that page's target puts them (`config` is the plan's room, `sandbox` the runtime's,
`migrations` and `batched` belong with the source). A room may import rooms on its own
floor or lower; each arrow up is printed with the files that make it, and the count is
the number of distinct (room, room) pairs. Circles are shared/tools/import-cycles.py's.

    ops/import-floors.py [src]
"""
import pathlib
import re
import sys

FLOORS = {
    7: ["main", "cli", "commands", "demo_examples", "lib"],
    6: ["run", "bench"],
    5: ["source", "tools", "exec", "clone", "migrations", "batched"],
    4: ["engine", "bridge", "trace", "observe", "analyze", "report", "gitlab",
        "sandbox", "runs", "teardown"],
    3: ["config"],
    2: ["model"],
    1: ["pg", "pgwire", "dle_api", "secret", "exit", "text", "child"],
}
FLOOR = {room: floor for floor, rooms in FLOORS.items() for room in rooms}
USE = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")


def room_of(path: pathlib.Path, src: pathlib.Path) -> str:
    first = path.relative_to(src).parts[0]
    return first[:-3] if first.endswith(".rs") else first


def main() -> int:
    src = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "src")
    arrows: dict[tuple[str, str], set[str]] = {}
    unknown = set()
    for path in sorted(src.rglob("*.rs")):
        room = room_of(path, src)
        text = path.read_text(errors="replace")
        # Tests may reach anywhere; only the code the crate ships counts.
        text = text.split("#[cfg(test)]")[0]
        # Doc links name rooms without importing them.
        text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("//"))
        for target in set(USE.findall(text)):
            # Items of the crate root (helpers in lib.rs) are not rooms.
            is_room = (src / f"{target}.rs").exists() or (src / target).is_dir()
            if target == room or not is_room:
                continue
            for r in (room, target):
                if r not in FLOOR:
                    unknown.add(r)
            if FLOOR.get(room, 0) < FLOOR.get(target, 0):
                arrows.setdefault((room, target), set()).add(str(path.relative_to(src)))
    for (a, b), files in sorted(arrows.items()):
        print(f"{a} (floor {FLOOR.get(a)}) -> {b} (floor {FLOOR.get(b)}): {', '.join(sorted(files))}")
    if unknown:
        print(f"rooms with no floor (add them above): {', '.join(sorted(unknown))}")
    print(f"arrows up: {len(arrows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
