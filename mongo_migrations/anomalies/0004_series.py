from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('anomalies', '0003_event_inbox'),
    ]

    operations = [
        migrations.AddField(
            model_name='anomalylog',
            name='series',
            field=models.CharField(blank=True, default='', help_text='The series inside the stream (detect --split-by: a host, a metric, a wiki); blank: one series.', max_length=200),
        ),
        migrations.AddIndex(
            model_name='anomalylog',
            index=models.Index(fields=['source_type', 'series', 'timestamp'], name='anomalylog_series_time'),
        ),
    ]
