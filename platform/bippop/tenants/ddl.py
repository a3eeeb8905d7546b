"""DDL shared by provisioning and the spare pool: a tenant role, and a schema only that role can use."""

from __future__ import annotations

from sqlalchemy import Connection, text

from bippop.tenants.naming import apps_group_for, quoted


def _create_role_if_missing(connection: Connection, role: str) -> None:
    exists = connection.execute(text("select 1 from pg_roles where rolname = :r"), {"r": role}).scalar()
    if not exists:
        connection.execute(text(f"create role {quoted(role)} nologin noinherit"))


def _grant_membership(connection: Connection, role: str, member: str) -> None:
    granted = connection.execute(
        text(
            "select 1 from pg_auth_members m join pg_roles r on r.oid = m.roleid "
            "join pg_roles u on u.oid = m.member where r.rolname = :r and u.rolname = :m"
        ),
        {"r": role, "m": member},
    ).scalar()
    if not granted:
        connection.execute(text(f"grant {quoted(role)} to {quoted(member)}"))


def ensure_apps_group(connection: Connection) -> str:
    """The database's group of login roles allowed to switch to tenant roles (the app, the migrator)."""
    database = connection.execute(text("select current_database()")).scalar_one()
    group = apps_group_for(database)
    _create_role_if_missing(connection, group)
    current = connection.execute(text("select current_user")).scalar_one()
    _grant_membership(connection, group, current)
    return group


def ensure_role(connection: Connection, role: str) -> None:
    """A tenant role, NOLOGIN: reachable only by SET ROLE from a member of the apps group."""
    group = ensure_apps_group(connection)
    _create_role_if_missing(connection, role)
    _grant_membership(connection, role, group)


NO_DELETE_TABLES = (
    "support_notes",
    "tenant_usage",
    "plan_prices",
    "billing_holds",
    "invoice_submissions",
    "invoice_reminders",
    "suspension_proposals",
    "subscriptions",  # a change of plan ends a row and starts the next: the history is kept
)


def grant_app_access(connection: Connection, app_role: str, *, platform: bool = True) -> None:
    """What the application's login role may do: switch to tenant roles (through the group, without
    inheriting their rights: the login role is NOINHERIT), read the tenant registry, and sign co-op
    staff in (their accounts and recovery codes)."""
    group = ensure_apps_group(connection)
    current = connection.execute(text("select current_user")).scalar_one()
    if app_role == current:
        return  # one role does everything (a development set-up): nothing to separate
    _grant_membership(connection, group, app_role)
    if not platform:
        return
    connection.execute(text(f"grant usage on schema platform to {quoted(app_role)}"))
    connection.execute(text(f"grant select on platform.tenants, platform.domains to {quoted(app_role)}"))
    # The wizard records a tenant (the migrator provisions it) and its administrator edits its appearance
    # and custom domains; nothing else of the registry.
    connection.execute(text(f"grant insert on platform.tenants to {quoted(app_role)}"))
    connection.execute(
        text(f"grant update (name, theme, branding) on platform.tenants to {quoted(app_role)}")
    )
    connection.execute(text(f"grant insert, update, delete on platform.domains to {quoted(app_role)}"))
    connection.execute(text(f"grant select on platform.plans to {quoted(app_role)}"))
    connection.execute(
        text(f"grant select, insert, update on platform.billing_profiles to {quoted(app_role)}")
    )
    connection.execute(
        text(
            f"grant select, insert, update, delete on platform.signups, platform.outbox_messages to {quoted(app_role)}"
        )
    )
    # Invoices are issued (never edited: a trigger says so whoever asks); their PDF is recorded later.
    connection.execute(text(f"grant select, insert on platform.invoices to {quoted(app_role)}"))
    connection.execute(
        text(f"grant update (pdf_key, pdf_error, updated_at) on platform.invoices to {quoted(app_role)}")
    )
    connection.execute(
        text(f"grant select, insert, update on platform.invoice_sequences to {quoted(app_role)}")
    )
    connection.execute(text(f"grant select, insert, update on platform.staff to {quoted(app_role)}"))
    # The co-op console (p0010): its audit log is append-only; staff suspend and reactivate tenants.
    connection.execute(
        text(f"grant update (status, suspended_at, updated_at) on platform.tenants to {quoted(app_role)}")
    )
    connection.execute(text(f"grant select, insert on platform.audit_log to {quoted(app_role)}"))
    connection.execute(text(f"grant usage on all sequences in schema platform to {quoted(app_role)}"))
    # Rows the console and the billing jobs only add and update: no delete (revoked too, for databases
    # granted it before; the tenant's own deletion cascades as the tables' owner).
    kept = ", ".join(f"platform.{table}" for table in NO_DELETE_TABLES)
    connection.execute(text(f"revoke delete on {kept} from {quoted(app_role)}"))
    connection.execute(text(f"grant select, insert, update on {kept} to {quoted(app_role)}"))
    # Enrolment links: a new one replaces the member's unused ones.
    connection.execute(
        text(f"grant select, insert, update, delete on platform.staff_enrolments to {quoted(app_role)}")
    )
    connection.execute(text(f"grant insert, update on platform.plans to {quoted(app_role)}"))
    connection.execute(text(f"grant select, insert on platform.payments to {quoted(app_role)}"))
    connection.execute(
        text(f"grant select, insert, update, delete on platform.staff_recovery_codes to {quoted(app_role)}")
    )


def ensure_schema(connection: Connection, schema: str, role: str) -> None:
    s, r = quoted(schema), quoted(role)
    connection.execute(text(f"create schema if not exists {s}"))
    connection.execute(text(f"revoke all on schema {s} from public"))
    connection.execute(text(f"grant usage on schema {s} to {r}"))
    connection.execute(
        text(f"alter default privileges in schema {s} grant select, insert, update, delete on tables to {r}")
    )
    connection.execute(
        text(f"alter default privileges in schema {s} grant usage, select on sequences to {r}")
    )
    # Relations made before the default privileges existed get the same rights. Not with GRANT ... ON
    # ALL TABLES/SEQUENCES IN SCHEMA: each reads the whole of pg_class (~110 ms at 2,000 tenants).
    tables, sequences = _relations_lacking_rights(connection, schema, role)
    if tables:
        connection.execute(text(f"grant select, insert, update, delete on table {tables} to {r}"))
    if sequences:
        connection.execute(text(f"grant usage, select on sequence {sequences} to {r}"))


# A schema's relations, found through pg_depend's index on the object referenced (each relation depends
# on its schema), then pg_class by oid: both index lookups, whatever the number of schemas.
_LACKING_RIGHTS = text(
    """
    select format('%I.%I', cast(:schema as text), c.relname), c.relkind = 'S'
    from pg_depend d join pg_class c on c.oid = d.objid
    where d.classid = 'pg_class'::regclass and d.refclassid = 'pg_namespace'::regclass
      and d.refobjid = to_regnamespace(:schema) and d.refobjsubid = 0
      and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
      and case when c.relkind = 'S'
          then not (has_sequence_privilege(cast(:role as name), c.oid, 'usage')
                    and has_sequence_privilege(cast(:role as name), c.oid, 'select'))
          else not (has_table_privilege(cast(:role as name), c.oid, 'select')
                    and has_table_privilege(cast(:role as name), c.oid, 'insert')
                    and has_table_privilege(cast(:role as name), c.oid, 'update')
                    and has_table_privilege(cast(:role as name), c.oid, 'delete'))
      end
    order by 1
    """
)


def _relations_lacking_rights(connection: Connection, schema: str, role: str) -> tuple[str, str]:
    """The schema's tables and sequences ``role`` cannot fully use, each as a list for one GRANT."""
    rows = connection.execute(_LACKING_RIGHTS, {"schema": schema, "role": role}).all()
    tables = ", ".join(name for name, is_sequence in rows if not is_sequence)
    sequences = ", ".join(name for name, is_sequence in rows if is_sequence)
    return tables, sequences
