from django.core.management.base import BaseCommand

from cms.sample_data import seed_sample_site


class Command(BaseCommand):
    help = "Fill this instance with the demo's sample site (once)."

    def add_arguments(self, parser):
        parser.add_argument("--password", required=True, help="password of the sample users")

    def handle(self, *args, password: str, **options):
        result = seed_sample_site(password)
        self.stdout.write(f"sample site: {result['created']} content items created, "
                          f"{result['content']} in all")
