from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Payment",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)),
                ("reference", models.CharField(max_length=40, unique=True)),
                ("amount_cents", models.PositiveIntegerField()),
                ("settled", models.BooleanField(default=False)),
                ("settled_by", models.CharField(blank=True, max_length=200)),
            ],
        ),
    ]
