from django.db import models


class Coupon(models.Model):
    code = models.TextField(unique=True)
    percent_off = models.IntegerField()
    expires_at = models.DateTimeField(null=True)
