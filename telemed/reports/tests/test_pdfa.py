"""A signed report stays a PDF/A-3b: what the PDF/A validators check, and the signature may change,
read back from the signed file with pypdf."""

import datetime
import subprocess

import pypdf
import pytest
from lxml import etree
from pyhanko.pdf_utils.generic import parse_pdf_date

from telemed.reports import services
from telemed.reports.tests.test_reports import CONTENT

pytestmark = pytest.mark.django_db

NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "dc": "http://purl.org/dc/elements/1.1/",
}
# Info entries and their XMP counterparts (ISO 19005-3, 6.6.2.3.1: they must be equivalent).
INFO_TO_XMP = {
    "/Producer": "pdf:Producer",
    "/Title": "dc:title",
    "/Author": "dc:creator",
    "/Subject": "dc:description",
    "/Keywords": "pdf:Keywords",
    "/Creator": "xmp:CreatorTool",
    "/CreationDate": "xmp:CreateDate",
    "/ModDate": "xmp:ModifyDate",
}
DATES = {"/CreationDate", "/ModDate"}


def xmp_properties(reader: pypdf.PdfReader) -> dict[str, str]:
    """Every simple XMP property as prefix:name → text, whether written as an attribute or an
    element; for dc:title and dc:creator, the first entry of their list."""
    root = etree.fromstring(reader.trailer["/Root"]["/Metadata"].get_object().get_data())
    prefixes = {uri: prefix for prefix, uri in NS.items()}
    values = {}
    for description in root.iterfind(".//rdf:Description", NS):
        for name, value in description.attrib.items():
            qname = etree.QName(name)
            if qname.namespace in prefixes and qname.namespace != NS["rdf"]:
                values[f"{prefixes[qname.namespace]}:{qname.localname}"] = value
        for child in description:
            qname = etree.QName(child)
            if qname.namespace in prefixes:
                item = child.find(".//rdf:li", NS)
                values[f"{prefixes[qname.namespace]}:{qname.localname}"] = (
                    item if item is not None else child
                ).text or ""
    return values


def fonts_of(resources, seen: set) -> list:
    """Every font a resource dictionary uses, its form XObjects' fonts included."""
    found = []
    if resources is None:
        return found
    resources = resources.get_object()
    for font in (resources.get("/Font") or {}).values():
        found.append(font.get_object())
    for entry in (resources.get("/XObject") or {}).values():
        reference = getattr(entry, "idnum", None)
        xobject = entry.get_object()
        if xobject.get("/Subtype") == "/Form" and reference not in seen:
            seen.add(reference)
            found += fonts_of(xobject.get("/Resources"), seen)
    return found


def embedded(font) -> bool:
    if font.get("/Subtype") == "/Type3":
        return True  # glyphs drawn by content streams in the font itself
    if font.get("/Subtype") == "/Type0":
        font = font["/DescendantFonts"][0].get_object()
    descriptor = font["/FontDescriptor"].get_object()
    return any(key in descriptor for key in ("/FontFile", "/FontFile2", "/FontFile3"))


def test_a_signed_report_keeps_its_pdfa_identification_metadata_output_intent_and_fonts(
    linked_pair, next_code, tmp_path
):
    doctor, patient = linked_pair()
    report = services.report_create(actor=doctor, patient=patient, kind="report", content=CONTENT)
    report = services.report_sign(actor=doctor, report=report, code=next_code(doctor))
    path = tmp_path / "signed.pdf"
    with report.pdf.open("rb") as stream:
        path.write_bytes(stream.read())
    reader = pypdf.PdfReader(path)
    info = reader.trailer["/Info"].get_object()
    xmp = xmp_properties(reader)

    assert (xmp["pdfaid:part"], xmp["pdfaid:conformance"]) == ("3", "B")
    # The producer names both programs, the same in the Info dictionary and in the XMP.
    assert "WeasyPrint" in info["/Producer"] and "pyHanko" in info["/Producer"]
    for key, name in INFO_TO_XMP.items():
        if key not in info:
            continue
        assert name in xmp, f"{key} has no XMP {name}"
        if key in DATES:
            assert parse_pdf_date(str(info[key])) == datetime.datetime.fromisoformat(xmp[name]), (
                key,
                info[key],
                xmp[name],
            )
        else:
            assert str(info[key]) == xmp[name], (key, info[key], xmp[name])

    catalog = reader.trailer["/Root"]
    intents = [intent.get_object() for intent in catalog["/OutputIntents"]]
    assert any(intent["/S"] == "/GTS_PDFA1" and "/DestOutputProfile" in intent for intent in intents)

    seen: set = set()
    fonts = []
    for page in reader.pages:
        fonts += fonts_of(page.get("/Resources"), seen)
        for annotation in page.get("/Annots") or []:
            appearance = annotation.get_object().get("/AP")
            if appearance is not None:
                fonts += fonts_of(appearance["/N"].get_object().get("/Resources"), seen)
    assert fonts and all(embedded(font) for font in fonts), [
        font.get("/BaseFont") for font in fonts if not embedded(font)
    ]

    widget = next(
        a.get_object()
        for page in reader.pages
        for a in page.get("/Annots") or []
        if a.get_object().get("/FT") == "/Sig"
    )
    assert int(widget["/F"]) & 4 and "/AP" in widget  # printed, with its own appearance
    assert not catalog["/AcroForm"].get("/NeedAppearances", False)

    result = subprocess.run(["pdfsig", "-nocert", str(path)], capture_output=True, text=True, timeout=60)
    assert "Signature is Valid" in result.stdout and "Total document signed" in result.stdout, result.stdout
