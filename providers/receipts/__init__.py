"""E-receipts (biên lai điện tử): the document, its Vietnamese amount in words, its XML and
XML-DSig signature, the same-day summary for the tax authority, and the external e-receipt
providers and tax-authority connector in their own subpackages. Imports only
``providers.common`` of the project (``/work/shared/specs/e-receipts.md``)."""
