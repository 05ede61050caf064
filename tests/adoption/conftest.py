"""The adoption layer: the project template is data, not tests of this repository."""

collect_ignore = ["ledger"]
