"""The public site for councils on the base domain: what the platform does, the price for a
collectivity, the demo portal, a contact form to the co-op and the way to one's own portal."""
