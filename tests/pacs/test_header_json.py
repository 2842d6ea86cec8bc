"""The fast DICOM JSON header reader gives what pydicom's ``Dataset.from_json`` gives, for our tags."""

from __future__ import annotations

import pydicom
import pytest
from pydicom import Dataset
from pydicom.data import get_testdata_file

from medlens.pacs.backend import HEADER_KEYWORDS
from medlens.pacs.dicomweb import header_from_json


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small.dcm", "rtdose.dcm", "JPEG2000.dcm"])
def test_header_from_json_matches_pydicom(name: str) -> None:
    source = pydicom.dcmread(get_testdata_file(name), stop_before_pixels=True)
    source.PatientName = "DOE^JANE"  # a PN, which DICOM JSON writes as {"Alphabetic": ...}
    source.SeriesDescription = ""  # an empty value: no "Value" in the JSON
    item = source.to_json_dict()
    got = header_from_json(item)
    wanted = {*HEADER_KEYWORDS, "StudyInstanceUID", "SeriesInstanceUID"}
    ours = {k: v for k, v in item.items() if pydicom.datadict.keyword_for_tag(int(k, 16)) in wanted}
    want = Dataset.from_json(ours)
    assert sorted(e.keyword for e in got) == sorted(e.keyword for e in want)
    for element in want:
        assert got[element.tag].VR == element.VR, element.keyword
        assert got[element.tag].value == element.value, element.keyword
    assert len(got) >= 8  # the test files carry geometry: the comparison is not vacuous
