import os

from django.core.management.base import BaseCommand
from django.db.migrations.writer import MigrationWriter

from topoforge.offline_migrations import pending_changes


class Command(BaseCommand):
    help = (
        "Write the migrations the models need without connecting to the database. Run it with "
        "MONGODB_URI set (any address) to write the MongoDB migration modules in mongo_migrations/."
    )

    def add_arguments(self, parser):
        parser.add_argument("app_label", nargs="*")
        parser.add_argument("--check", action="store_true", help="Exit 1 if anything is missing.")

    def handle(self, *app_labels, check=False, **options):
        changes = pending_changes(app_labels or None)
        if not changes:
            self.stdout.write("No changes detected.")
            return
        for app_label, migrations in changes.items():
            for migration in migrations:
                writer = MigrationWriter(migration)
                self.stdout.write(f"{app_label}: {writer.path}")
                if not check:
                    os.makedirs(os.path.dirname(writer.path), exist_ok=True)
                    with open(writer.path, "w", encoding="utf-8") as handle:
                        handle.write(writer.as_string())
        if check:
            raise SystemExit(1)
