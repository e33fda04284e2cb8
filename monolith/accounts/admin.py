from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from monolith.accounts.models import User


@admin.register(User)
class FleetUserAdmin(UserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "is_staff", "is_active")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    readonly_fields = ("id", "last_login", "date_joined")
