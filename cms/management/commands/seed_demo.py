from django.core.management.base import BaseCommand

from cms.sample_data import seed_sample_site


class Command(BaseCommand):
    help = "Fill this instance with the demo's sample site (once)."

    def add_arguments(self, parser):
        parser.add_argument("--password", required=True, help="password of the sample users")

    def handle(self, *args, password: str, **options):
        result = seed_sample_site(password)
        if result["created"]:
            self.stdout.write(f"Sample site created: {result['created']} content items.")
        else:
            self.stdout.write(f"Sample site already there ({result['content']} content items).")
