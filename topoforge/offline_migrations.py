"""Migration autodetection without a database connection.

``makemigrations`` connects to check the applied history, which a MongoDB settings module cannot
do on a machine without a server. The autodetector itself needs no connection, so the check in the
test suite and the ``makemigrations_offline`` command drive it directly.
"""
from django.apps import apps
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
from django.db.migrations.state import ProjectState


def pending_changes(app_labels=None):
    """``{app_label: [Migration, ...]}`` that the models need and the migration modules lack."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    conflicts = loader.detect_conflicts()
    if conflicts:
        raise RuntimeError(f"conflicting migrations, merge them first: {conflicts}")
    autodetector = MigrationAutodetector(
        loader.project_state(),
        ProjectState.from_apps(apps),
        NonInteractiveMigrationQuestioner(specified_apps=app_labels, dry_run=True),
    )
    return autodetector.changes(
        graph=loader.graph,
        trim_to_apps=set(app_labels) if app_labels else None,
        convert_apps=set(app_labels) if app_labels else None,
    )
