from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = ()

    operations = (
        migrations.CreateModel(
            name="LoginProtection",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("account", models.CharField(blank=True, max_length=1024)),
                ("ip", models.CharField(blank=True, max_length=64, verbose_name="IP address")),
            ],
            options={
                "verbose_name": "login protection",
                "verbose_name_plural": "login protection",
                "permissions": (
                    (
                        "view_loginprotection",
                        "Can look up login protection of accounts and networks",
                    ),
                    ("unlock_loginprotection", "Can unlock accounts and networks"),
                ),
                "managed": False,
                "default_permissions": (),
            },
        ),
    )
