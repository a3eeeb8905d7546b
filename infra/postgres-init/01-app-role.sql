-- The application's login role: not a superuser, inherits nothing, owns nothing.
-- `bippop migrate` (as the owner role) grants it what it needs: switching to
-- tenant roles through the database's apps group, and reading the tenant registry.
-- Change the password, and BIPPOP_DATABASE_URL with it, outside a local trial.
CREATE ROLE bippop_app LOGIN NOINHERIT NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD 'bippop-app';
