"""Which specimen a result was measured in. sigmd judges serum or plasma immunoglobulins only: the LOINC codes it
reads (IgM 2472-9 and the others) are serum or plasma codes, and the reference intervals are serum intervals. An
IgM measured in cerebrospinal fluid or urine is a hundred times lower and must never be judged as serum.

One vocabulary for every reader (HL7 v2 OBR-15 and SPM-4, FHIR Specimen.type and an Observation's code text):
codes of HL7 tables 0487 and 0070 (FHIR code systems v2-0487 and v2-0070), a few SNOMED CT specimen concepts, and
words. A specimen clearly not serum, plasma or blood skips its results; one sigmd cannot classify keeps them, with
a warning naming it (sigmd default: no specimen stated is read as serum, as most laboratory feeds send none).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class SpecimenKind(StrEnum):
    BLOOD = "serum, plasma or blood"
    OTHER = "not serum, plasma or blood"
    UNKNOWN = "unknown"


_BLOOD_CODES = ("SER", "PLAS", "BLD", "SER/PLAS", "SERPL", "BLDA", "BLDV", "BLDC", "WB", "PPP", "ASERU", "CSERU")
_OTHER_CODES = (
    *("CSF", "UR", "URINE", "URC", "URT", "URNS", "RANDU", "URINB", "URINC", "URINM", "URINN", "URINP"),
    *("AMN", "BIFL", "BRO", "COL", "CVM", "DIAF", "DUFL", "EARW", "FLD", "FLU", "FLUID", "GAST", "JNTFLD"),
    *("LIQ", "MILK", "MLK", "PAFL", "PLR", "PRT", "PUS", "SAL", "SEM", "SNV", "SPT", "SPTC", "SPTT", "STL"),
    *("SWT", "TEAR", "VITF", "VOM", "TISS", "MAR", "BON", "SKN", "ASP", "ABS", "WND", "CYST", "DRN", "EFF"),
    *("MBLD", "BBL", "BPU", "PLB"),
)
V2_CODES: Mapping[str, SpecimenKind] = MappingProxyType(
    {**dict.fromkeys(_BLOOD_CODES, SpecimenKind.BLOOD), **dict.fromkeys(_OTHER_CODES, SpecimenKind.OTHER)}
)
"""Specimen codes of HL7 tables 0487 and 0070 (upper case): the patient's serum, plasma or blood (`SER/PLAS` and
`SERPL`, the LOINC system, as many laboratories send), or clearly not (CSF, urine, other body fluids and tissues,
menstrual blood, blood bags and products; `URINE` as some laboratories send)."""
SNOMED_CODES: Mapping[str, SpecimenKind] = MappingProxyType(
    {
        "119364003": SpecimenKind.BLOOD,  # Serum specimen
        "119361006": SpecimenKind.BLOOD,  # Plasma specimen
        "119297000": SpecimenKind.BLOOD,  # Blood specimen
        "122555007": SpecimenKind.BLOOD,  # Venous blood specimen
        "258450006": SpecimenKind.OTHER,  # Cerebrospinal fluid sample
        "122575003": SpecimenKind.OTHER,  # Urine specimen
    }
)
"""SNOMED CT specimen concepts sigmd recognises by code; others are recognised by their display."""
OTHER_WORDS = re.compile(
    r"\b(?:urine?|urinary|csf|cerebro-?spinal|cerebral spinal|spinal fluid|liquor|saliva|sputum|stool|f(?:a)?eces|"
    r"tears?|milk|colostrum|amniotic|pleural|peritoneal|ascit(?:es|ic)|synovial|vitreous|semen|seminal|sweat|bile|"
    r"dialysate|body fluid|bronchial|bronchoalveolar|lavage|gastric|duodenal|pancreatic|effusion|tissue|menstrual)\b",
    re.IGNORECASE,
)
"""Words that name a specimen other than serum, plasma or blood (in a specimen's text or a test's name)."""
BLOOD_WORDS = re.compile(r"\b(?:serum|sera|plasma|blood|ser|plas|serpl|bld)\b", re.IGNORECASE)


def kind_of_code(code: str) -> SpecimenKind:
    """What an HL7 table 0487/0070 code says."""
    return V2_CODES.get(code.strip().upper(), SpecimenKind.UNKNOWN)


def kind_of_words(text: str) -> SpecimenKind:
    """What a text says: another fluid when it names one (first, to fail safe: 'blood in urine'), else blood when it
    names serum, plasma or blood."""
    if OTHER_WORDS.search(text):
        return SpecimenKind.OTHER
    return SpecimenKind.BLOOD if BLOOD_WORDS.search(text) else SpecimenKind.UNKNOWN


def kind_of(code: str, text: str) -> SpecimenKind:
    """What a code and its text say together: another fluid when either says so, blood when either does, else
    unknown."""
    kinds = (kind_of_code(code), kind_of_words(text))
    if SpecimenKind.OTHER in kinds:
        return SpecimenKind.OTHER
    return SpecimenKind.BLOOD if SpecimenKind.BLOOD in kinds else SpecimenKind.UNKNOWN
