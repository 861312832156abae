# Review workflow: reviews, revisions, skips, adjudications, and the full-text index.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# Must match ConversationQuerySet.search / search_vector() exactly, or the planner ignores it.
FTS_INDEX = (
    "CREATE INDEX IF NOT EXISTS conversation_fts ON curation_conversation USING gin "
    "(jsonb_to_tsvector('english'::regconfig, original, '[\"string\"]'::jsonb))"
)


class Migration(migrations.Migration):
    dependencies = [
        ("curation", "0002_pii"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Adjudication',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('open', 'Open'), ('resolved', 'Resolved')], default='open', max_length=16)),
                ('decision', models.CharField(blank=True, choices=[('approve', 'Approve'), ('reject', 'Reject')], max_length=16)),
                ('comment', models.TextField(blank=True)),
                ('resolved_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('conversation', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='adjudication', to='curation.conversation')),
                ('dataset', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='adjudications', to='curation.dataset')),
                ('resolved_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['created_at', 'id'],
                'indexes': [models.Index(fields=['dataset', 'status', 'id'], name='curation_ad_dataset_e6f76a_idx')],
            },
        ),
        migrations.CreateModel(
            name='ConversationRevision',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('message_index', models.PositiveIntegerField()),
                ('before', models.TextField()),
                ('after', models.TextField()),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('author', models.ForeignKey(null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='revisions', to='curation.conversation')),
            ],
            options={
                'ordering': ['conversation', 'message_index', 'id'],
                'indexes': [models.Index(fields=['conversation', 'message_index', 'id'], name='curation_co_convers_a22170_idx')],
            },
        ),
        migrations.CreateModel(
            name='Review',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('scores', models.JSONField(blank=True, default=dict)),
                ('decision', models.CharField(choices=[('approve', 'Approve'), ('reject', 'Reject')], max_length=16)),
                ('comment', models.TextField(blank=True)),
                ('seconds', models.FloatField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reviews', to='curation.conversation')),
                ('dataset', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reviews', to='curation.dataset')),
                ('reviewer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='reviews', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-created_at', '-id'],
                'indexes': [models.Index(fields=['reviewer', 'dataset', 'id'], name='curation_re_reviewe_926f17_idx'), models.Index(fields=['dataset', 'reviewer'], name='curation_re_dataset_4b5919_idx')],
                'constraints': [models.UniqueConstraint(fields=('reviewer', 'conversation'), name='one_review_per_reviewer')],
            },
        ),
        migrations.CreateModel(
            name='ReviewSkip',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='curation.conversation')),
                ('reviewer', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('reviewer', 'conversation'), name='one_skip_per_reviewer')],
            },
        ),
            migrations.RunSQL(FTS_INDEX, reverse_sql="DROP INDEX IF EXISTS conversation_fts"),
    ]
