"""Prepare the database: migrations, indexes, the admin account. Safe to run on every start.

Each step says what it did; a second run finds everything in place and changes nothing. An
existing ``admin`` keeps its password: this command never resets one.
"""
import secrets

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connections, models, transaction
from django.db.migrations.executor import MigrationExecutor

from accounts.models import Role
from topoforge.config import is_mongodb
from topoforge.startup import ping_database

ADMIN_USERNAME = "admin"
ADMIN_EMAIL = "admin@topoforge.com"
# scripts/run.sh looks for this phrase so that it never prints credentials that do not log in.
PASSWORD_MISMATCH = "its password is NOT the one in TOPOFORGE_ADMIN_PASSWORD"


class Command(BaseCommand):
    help = (
        "Apply migrations, make sure every declared index exists (and, on MongoDB, the TTL index "
        "that expires sessions), and create the admin account. Running it again changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS)

    def handle(self, *args, database, **options):
        connection = connections[database]
        self.stdout.write(f"Database: {ping_database(database)}")
        self.migrate(connection)
        self.ensure_indexes(connection)
        if is_mongodb(connection.settings_dict):
            self.ensure_session_ttl_index(connection)
        self.ensure_admin(database)

    # --- steps ----------------------------------------------------------------------------------
    def migrate(self, connection):
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if not plan:
            self.stdout.write("Migrations: none pending")
            return
        call_command("migrate", database=connection.alias, interactive=False, verbosity=0)
        self.stdout.write(self.style.SUCCESS(f"Migrations: applied {len(plan)}"))

    def ensure_indexes(self, connection):
        """Create any declared index missing from the database (dropped by hand, say).

        Covers ``Meta.indexes`` (by name) and single-field ``db_index`` fields, foreign keys
        included (by column). Unique indexes are only reported: the data may hold duplicates
        that need a human decision.
        """
        tables = set(connection.introspection.table_names())
        declared, created, missing_unique = 0, [], []
        for model in apps.get_models():
            meta = model._meta
            if not meta.managed or meta.proxy or meta.db_table not in tables:
                continue
            with connection.cursor() as cursor:
                existing = connection.introspection.get_constraints(cursor, meta.db_table)
            indexed_columns = {tuple(c["columns"]) for c in existing.values() if c["index"]}
            unique_columns = {tuple(c["columns"]) for c in existing.values() if c["unique"]}
            missing = [index for index in meta.indexes if index.name not in existing]
            declared += len(meta.indexes)
            for field in meta.local_fields:
                if field.primary_key:
                    continue
                if field.unique:
                    declared += 1
                    if (field.column,) not in unique_columns:
                        missing_unique.append(f"{meta.db_table}.{field.column}")
                elif field.db_index:
                    declared += 1
                    if (field.column,) not in indexed_columns | unique_columns:
                        # The name Django itself gives a field's index, so later migrations find it.
                        name = connection.schema_editor()._create_index_name(
                            meta.db_table, [field.column]
                        )
                        missing.append(models.Index(fields=[field.name], name=name))
            for index in missing:
                with connection.schema_editor() as editor:
                    editor.add_index(model, index)
                created.append(f"{index.name} on {meta.db_table}")
        if created:
            self.stdout.write(self.style.SUCCESS(f"Indexes: created {', '.join(created)}"))
        else:
            self.stdout.write(f"Indexes: all {declared} declared indexes present")
        for column in missing_unique:
            self.stderr.write(self.style.WARNING(f"Indexes: the unique index on {column} is missing"))

    def ensure_session_ttl_index(self, connection):
        from accounts.mongo_indexes import ensure_session_ttl_index, session_ttl

        outcome = ensure_session_ttl_index(connection)
        collection, field, seconds = session_ttl()
        days = seconds // (24 * 3600)
        line = f"TTL index on {collection}.{field}: {outcome} (sessions removed {days} days after expiry)"
        self.stdout.write(line if outcome == "present" else self.style.SUCCESS(line))

    def ensure_admin(self, database):
        User = get_user_model()
        configured = settings.TOPOFORGE_ADMIN_PASSWORD
        existing = User.objects.using(database).filter(username=ADMIN_USERNAME).first()
        if existing is not None:
            self.report_existing_admin(existing, configured)
            return
        password = configured or secrets.token_urlsafe(18)
        try:
            with transaction.atomic(using=database):  # a clash must not spoil an outer transaction
                User.objects.db_manager(database).create_superuser(
                    ADMIN_USERNAME, ADMIN_EMAIL, password, role=Role.ADMIN
                )
        except IntegrityError:
            existing = User.objects.using(database).filter(username=ADMIN_USERNAME).first()
            if existing is None:  # the e-mail address, not the name, is taken
                owner = User.objects.using(database).get(email=ADMIN_EMAIL)
                self.stderr.write(
                    self.style.ERROR(
                        f"Admin user: not created, {ADMIN_EMAIL} belongs to {owner.username!r}"
                    )
                )
                return
            self.report_existing_admin(existing, configured)  # created by a concurrent run
            return
        if configured:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Admin user: created {ADMIN_USERNAME!r} <{ADMIN_EMAIL}> "
                    "with the password from TOPOFORGE_ADMIN_PASSWORD"
                )
            )
            self.warn_if_weak(password)
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Admin user: created {ADMIN_USERNAME!r} <{ADMIN_EMAIL}> with the generated "
                    f"password {password}\n  It is shown only this once: store it now."
                )
            )

    def report_existing_admin(self, user, configured):
        line = f"Admin user: {user.username!r} exists, password left unchanged"
        if configured and not check_password(configured, user.password):
            line = (
                f"Admin user: {user.username!r} exists and {PASSWORD_MISMATCH} "
                f"(left unchanged; `manage.py changepassword {user.username}` sets a new one)"
            )
            self.stdout.write(self.style.WARNING(line))
        else:
            self.stdout.write(line)
        problems = [
            *(["inactive"] if not user.is_active else []),
            *([f"of role {user.role!r}"] if user.role != Role.ADMIN else []),
        ]
        if problems:
            self.stderr.write(
                self.style.WARNING(
                    f"Admin user: {user.username!r} is {' and '.join(problems)}; left as it is"
                )
            )

    def warn_if_weak(self, password):
        try:
            validate_password(password)
        except ValidationError as error:
            self.stderr.write(
                self.style.WARNING(f"Admin user: weak TOPOFORGE_ADMIN_PASSWORD: {' '.join(error.messages)}")
            )
