"""The public site on the base domain and the self-serve onboarding wizard of councils."""
