"""Maps the top-level folders into the `frontier` namespace (see ARCHITECTURE.md, The layers).

`frontier` itself is a namespace package: `components/`, `pipelines/` and
`schemas/` become `frontier.components`, `frontier.pipelines` and
`frontier.schemas`, so nothing called `components` lands in site-packages.
pyproject.toml cannot rename found packages, hence this file.
"""

from setuptools import find_packages, setup

TOP_LEVEL = ("components", "pipelines", "schemas")

packages = []
package_dir = {}
for top in TOP_LEVEL:
    for pkg in [top, *(f"{top}.{p}" for p in find_packages(top))]:
        name = f"frontier.{pkg}"
        packages.append(name)
        package_dir[name] = pkg.replace(".", "/")

setup(packages=packages, package_dir=package_dir)
