"""Billing: tariffs, invoices per completed trip, payments through a gateway, refunds."""
