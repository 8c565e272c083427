"""Shared PDF printing: Japanese fonts embedded, A4 forms laid out in millimetres, QR / NW-7 / OCR-B.

Every printed document of sesshu (notices, 予診票, certificates, payment statements, relief letters,
disclosure packages) is built with `PdfDocument` and logged with `sesshu.exports.service.log_print`
(document, purpose, rows, sha256) in the transaction that read the data.
"""
from sesshu.printing.document import PdfDocument, PrintedPdf, SplitPdfWriter, WrittenFile
from sesshu.printing.fonts import GOTHIC, MINCHO, OCRB, register_fonts
from sesshu.printing.layout import ADDRESS_WINDOW, address_block, wrap_text

__all__ = ["PdfDocument", "PrintedPdf", "SplitPdfWriter", "WrittenFile", "GOTHIC", "MINCHO", "OCRB",
           "register_fonts", "ADDRESS_WINDOW", "address_block", "wrap_text"]
