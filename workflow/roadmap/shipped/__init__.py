"""The roadmap files shipped with Tochka."""

from pathlib import Path

#: The Ivanovo region's decree № 159-рп of 07.12.2020, the default roadmap of ``tochka init``.
IVANOVO_159_RP = Path(__file__).resolve().parent / "ivanovo-159-rp.yaml"

#: An example on the federal template for 2022-2025 (a fictional region, not a decree):
#: it shows every key of the format; never loaded by default (``tochka init --roadmap``).
EXAMPLE_FEDERAL_TEMPLATE = Path(__file__).resolve().parent / "example-federal-template.yaml"
