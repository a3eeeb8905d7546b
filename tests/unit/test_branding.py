"""Branding colours must keep white text readable (WCAG AA 4.5:1)."""

from __future__ import annotations

import pytest

from bippop.tenants.branding import BrandingError, clean_branding, contrast_ratio, css_variables


def test_contrast_ratio_matches_wcag_reference_values() -> None:
    assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast_ratio("#ffffff", "#ffffff") == pytest.approx(1.0)
    assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)


def test_dark_colours_are_kept_and_lower_cased() -> None:
    assert clean_branding({"primary": "#1D4F91"}) == {"primary": "#1d4f91"}


@pytest.mark.parametrize("colour", ["#ffff00", "#77aaff", "#999999"])
def test_light_colours_are_refused_with_the_field_named(colour: str) -> None:
    with pytest.raises(BrandingError) as error:
        clean_branding({"accent": colour})
    assert error.value.field == "accent"
    assert "4.5:1" in str(error.value)


@pytest.mark.parametrize("colour", ["red", "#12345", "#12345g", "javascript:alert(1)"])
def test_malformed_colours_are_refused(colour: str) -> None:
    with pytest.raises(BrandingError):
        clean_branding({"primary": colour})


def test_text_fields_are_bounded_and_whitespace_folded() -> None:
    assert clean_branding({"tagline": "  Bonjour \n à tous  "}) == {"tagline": "Bonjour à tous"}
    with pytest.raises(BrandingError):
        clean_branding({"tagline": "x" * 161})


def test_css_variables_fall_back_to_the_defaults() -> None:
    assert css_variables({}) == {"--bp-primary": "#1d4f91", "--bp-accent": "#a3314b"}
    assert css_variables({"primary": "#7a1f3d"})["--bp-primary"] == "#7a1f3d"
