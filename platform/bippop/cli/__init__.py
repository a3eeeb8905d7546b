"""The ``bippop`` command. Every sub-command has a ``--help`` written for a council's IT person.

One file per group: ``processes`` (run, web, worker, scheduler, migrate), ``tenants``,
``channels`` (a tenant's sign-in providers and text messages), ``staff``.
"""

from __future__ import annotations

import click

# The modules, not their groups: `bippop.cli.staff` stays the module (tests patch its get_settings).
from bippop.cli import channels, processes, staff, tenants
from bippop.modules.assembly import prepare as prepare_modules


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="bippop")
def main() -> None:
    """Bip Pop: the platform that councils use against the isolation of elderly people.

    Settings come from BIPPOP_* environment variables (see docs/configuration.md).
    With none set, `bippop run` starts everything on this machine.
    """
    prepare_modules()  # the modules' tables join the tenant chain before any command migrates


for command in (processes.run, processes.web, processes.worker, processes.scheduler, processes.migrate):
    main.add_command(command)
# `bippop tenants sso` and `bippop tenants sms` configure one tenant's channels; they live apart.
tenants.tenants.add_command(channels.tenants_sso)
tenants.tenants.add_command(channels.tenants_sms)
main.add_command(tenants.tenants)
main.add_command(staff.staff)

__all__ = ["main"]
