"""Settings of the example project: the database is the one the libpq variables name
(the box sets them to the bridge's socket); nothing else is configured."""
import os

SECRET_KEY = "example-project-runs-no-server"
INSTALLED_APPS = ["shop"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ["PGDATABASE"],
        "USER": os.environ["PGUSER"],
        "HOST": os.environ["PGHOST"],
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
