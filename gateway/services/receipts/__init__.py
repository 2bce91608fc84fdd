"""E-receipts (biên lai điện tử) on the gateway side: number ranges, issuing a receipt in the
transaction that makes a payment paid, and reading receipts (docs/receipts.md)."""
