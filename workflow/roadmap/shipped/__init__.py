"""The roadmap files shipped with Tochka."""

from pathlib import Path

#: The Ivanovo region's decree № 159-рп of 07.12.2020, the default roadmap of ``tochka init``.
IVANOVO_159_RP = Path(__file__).resolve().parent / "ivanovo-159-rp.yaml"
