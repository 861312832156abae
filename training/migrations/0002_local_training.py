# Local LoRA training: the provider's kind at launch, the adapter's files in storage, and
# the trained model's replies to a few validation prompts.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('training', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='finetunejob',
            name='provider_kind',
            field=models.CharField(blank=True, max_length=16),
        ),
        migrations.AddField(
            model_name='finetunejob',
            name='artifacts',
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name='finetunejob',
            name='samples',
            field=models.JSONField(blank=True, default=list),
        ),
    ]
