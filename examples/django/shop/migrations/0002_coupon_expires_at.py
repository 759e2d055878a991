from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_coupon")]

    operations = [
        migrations.AddField(
            model_name="coupon",
            name="expires_at",
            field=models.DateTimeField(null=True),
        ),
        # Raw SQL on the application's existing table: an index built without
        # CONCURRENTLY, so writes to orders wait for the whole build.
        migrations.RunSQL(
            "CREATE INDEX orders_created_at_idx ON orders (created_at)",
            reverse_sql="DROP INDEX orders_created_at_idx",
        ),
    ]
