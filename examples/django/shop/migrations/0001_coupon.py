from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Coupon",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("code", models.TextField(unique=True)),
                ("percent_off", models.IntegerField()),
            ],
        ),
    ]
