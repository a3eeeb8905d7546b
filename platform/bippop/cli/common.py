"""What every ``bippop`` command shares: the consoles and the errors a person can act on."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from rich.console import Console

from bippop.config import SettingsError, describe_url, get_settings

F = TypeVar("F", bound=Callable[..., Any])
console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def friendly_errors(command: F) -> F:
    """Turn the failures a person can act on into one clear message and a non-zero exit."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from sqlalchemy.exc import OperationalError

        from bippop.tenants.errors import TenantError

        try:
            return command(*args, **kwargs)
        except SettingsError as exc:
            err_console.print(f"[red]Configuration :[/red] {exc}")
            sys.exit(2)
        except TenantError as exc:
            err_console.print(f"[red]Refusé :[/red] {exc}")
            sys.exit(1)
        except OperationalError as exc:
            settings = get_settings()
            where = describe_url(settings.database_url) if settings.database_url else "?"
            reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
            err_console.print(f"[red]PostgreSQL ne répond pas[/red] ({where}) : {reason}")
            sys.exit(3)

    return wrapper  # type: ignore[return-value]
