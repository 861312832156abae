# Fine-tune jobs, their events, per-step metrics and checkpoints.

import django.db.models.deletion
import uuid
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('curation', '0004_snapshots'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='FineTuneJob',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('cancelled', 'Cancelled')], db_index=True, default='queued', max_length=16)),
                ('done', models.PositiveBigIntegerField(default=0)),
                ('total', models.PositiveBigIntegerField(blank=True, null=True)),
                ('error', models.TextField(blank=True)),
                ('rq_job_id', models.CharField(blank=True, max_length=64)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                ('started_at', models.DateTimeField(blank=True, null=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('uid', models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ('provider', models.CharField(max_length=64)),
                ('provider_label', models.CharField(blank=True, max_length=200)),
                ('provider_is_simulator', models.BooleanField(default=False)),
                ('base_model', models.CharField(max_length=200)),
                ('method', models.CharField(choices=[('supervised', 'Supervised')], default='supervised', max_length=32)),
                ('hyperparameters', models.JSONField(blank=True, default=dict)),
                ('suffix', models.CharField(blank=True, max_length=64)),
                ('seed', models.BigIntegerField(blank=True, null=True)),
                ('estimated_epochs', models.PositiveIntegerField(blank=True, null=True)),
                ('estimated_tokens', models.PositiveBigIntegerField(blank=True, null=True)),
                ('estimated_cost', models.DecimalField(blank=True, decimal_places=4, max_digits=12, null=True)),
                ('remote_training_file', models.CharField(blank=True, max_length=200)),
                ('remote_validation_file', models.CharField(blank=True, max_length=200)),
                ('remote_job_id', models.CharField(blank=True, db_index=True, max_length=200)),
                ('remote_status', models.CharField(blank=True, max_length=32)),
                ('resolved_hyperparameters', models.JSONField(blank=True, default=dict)),
                ('fine_tuned_model', models.CharField(blank=True, max_length=300)),
                ('trained_tokens', models.PositiveBigIntegerField(blank=True, null=True)),
                ('estimated_finish', models.DateTimeField(blank=True, null=True)),
                ('error_code', models.CharField(blank=True, max_length=100)),
                ('chain', models.CharField(blank=True, max_length=32)),
                ('next_check_at', models.DateTimeField(blank=True, null=True)),
                ('polls', models.PositiveIntegerField(default=0)),
                ('transient_failures', models.PositiveIntegerField(default=0)),
                ('last_problem', models.TextField(blank=True)),
                ('last_event_id', models.CharField(blank=True, max_length=200)),
                ('timeline', models.JSONField(blank=True, default=list)),
                ('cancel_requested_at', models.DateTimeField(blank=True, null=True)),
                ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                ('dataset', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='finetune_jobs', to='curation.dataset')),
                ('version', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='finetune_jobs', to='curation.datasetversion')),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='FineTuneEvent',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('remote_id', models.CharField(max_length=200)),
                ('created_at', models.DateTimeField(blank=True, null=True)),
                ('level', models.CharField(default='info', max_length=16)),
                ('type', models.CharField(default='message', max_length=32)),
                ('message', models.TextField(blank=True)),
                ('data', models.JSONField(blank=True, default=dict)),
                ('step', models.PositiveIntegerField(blank=True, null=True)),
                ('stored_at', models.DateTimeField(auto_now_add=True)),
                ('job', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='events', to='training.finetunejob')),
            ],
            options={
                'ordering': ['created_at', 'id'],
            },
        ),
        migrations.CreateModel(
            name='FineTuneCheckpoint',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('remote_id', models.CharField(max_length=200)),
                ('created_at', models.DateTimeField(blank=True, null=True)),
                ('step', models.PositiveIntegerField()),
                ('fine_tuned_model_checkpoint', models.CharField(blank=True, max_length=300)),
                ('metrics', models.JSONField(blank=True, default=dict)),
                ('job', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='checkpoints', to='training.finetunejob')),
            ],
            options={
                'ordering': ['step', 'id'],
            },
        ),
        migrations.CreateModel(
            name='FineTuneMetric',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('step', models.PositiveIntegerField()),
                ('train_loss', models.FloatField(blank=True, null=True)),
                ('valid_loss', models.FloatField(blank=True, null=True)),
                ('full_valid_loss', models.FloatField(blank=True, null=True)),
                ('train_mean_token_accuracy', models.FloatField(blank=True, null=True)),
                ('valid_mean_token_accuracy', models.FloatField(blank=True, null=True)),
                ('full_valid_mean_token_accuracy', models.FloatField(blank=True, null=True)),
                ('data', models.JSONField(blank=True, default=dict)),
                ('source', models.CharField(default='event', max_length=16)),
                ('job', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='metrics', to='training.finetunejob')),
            ],
            options={
                'ordering': ['step'],
            },
        ),
        migrations.AddIndex(
            model_name='finetunejob',
            index=models.Index(fields=['dataset', '-created_at'], name='training_fi_dataset_0aeaa3_idx'),
        ),
        migrations.AddConstraint(
            model_name='finetuneevent',
            constraint=models.UniqueConstraint(fields=('job', 'remote_id'), name='unique_finetune_event'),
        ),
        migrations.AddConstraint(
            model_name='finetunecheckpoint',
            constraint=models.UniqueConstraint(fields=('job', 'remote_id'), name='unique_finetune_checkpoint'),
        ),
        migrations.AddConstraint(
            model_name='finetunemetric',
            constraint=models.UniqueConstraint(fields=('job', 'step'), name='unique_finetune_metric_step'),
        ),
    ]
