from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from papers.ingest import seeds


class Command(BaseCommand):
    help = "Import seed documents (files or folders; default: the shipped demo corpus). Safe to re-run."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", type=Path, help=f"files or folders (default {settings.SEEDS_DIR})")

    def handle(self, *args, paths, **options):
        reports = seeds.import_paths(paths or [settings.SEEDS_DIR])
        for report in reports:
            if report.error:
                self.stderr.write(report.line())
            elif options["verbosity"]:
                self.stdout.write(report.line())
        failed = [r for r in reports if r.error]
        if failed:
            raise CommandError(f"{len(failed)} of {len(reports)} files failed; the others were imported")
