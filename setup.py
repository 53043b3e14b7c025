"""The one thing pyproject.toml cannot say: install the top-level ``resources/`` folder as the
import package ``dclip_resources`` (a top-level package named ``resources`` would clash with other
distributions in site-packages). Everything else is in pyproject.toml; see ADR 0018."""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["dclip_core*", "dclip_app*"]), "dclip_resources"],
    package_dir={"dclip_resources": "resources"},
)
