"""Template engines per theme, i18n, htmx helpers and the first pages."""
