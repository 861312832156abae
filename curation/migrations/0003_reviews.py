from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("curation", "0002_pii")]

    operations: list = []
