from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("curation", "0003_reviews")]

    operations: list = []
