"""Billing's use cases: issuing invoices and credit notes (``issuing``)."""
