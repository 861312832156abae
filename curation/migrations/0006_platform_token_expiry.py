# Token expiry and the password fingerprint that revokes a token when its user's password changes.

from datetime import timedelta

from django.db import migrations, models

import curation.models.access_tokens


def backfill(apps, schema_editor):
    """Existing tokens keep working: 90 days from their creation, under today's password."""
    AccessToken = apps.get_model("curation", "AccessToken")
    for token in AccessToken.objects.select_related("user").iterator():
        token.expires_at = token.created_at + timedelta(days=90)
        token.password_fingerprint = curation.models.access_tokens.password_fingerprint(token.user)
        token.save(update_fields=["expires_at", "password_fingerprint"])


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0005_search_vector_quality_runs"),
    ]

    operations = [
        migrations.AddField(
            model_name="accesstoken",
            name="expires_at",
            field=models.DateTimeField(default=curation.models.access_tokens.default_token_expiry),
        ),
        migrations.AddField(
            model_name="accesstoken",
            name="password_fingerprint",
            field=models.CharField(blank=True, max_length=32),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
