"""What the co-operative sells and to whom: plans (its price list) and each tenant's billing identity."""
