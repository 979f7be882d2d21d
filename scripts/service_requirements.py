"""Print the third-party requirements of the given pyproject.toml files, one per line.

Local packages (the ones named by the files themselves) are left out, so a Dockerfile can
install a service's dependencies from its pyproject files and constraints.txt alone,
before any source is copied: a code change then reuses the dependency layer.
"""

import re
import sys
import tomllib


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def main(paths: list[str]) -> int:
    projects = []
    for path in paths:
        with open(path, "rb") as file:
            projects.append(tomllib.load(file)["project"])
    local = {requirement_name(project["name"]) for project in projects}
    seen: set[str] = set()
    for project in projects:
        for requirement in project.get("dependencies", []):
            name = requirement_name(requirement)
            if name not in local and name not in seen:
                seen.add(name)
                print(requirement)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
