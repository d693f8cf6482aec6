from django.contrib import admin

from relationships.models import ServerInfo


@admin.register(ServerInfo)
class ServerInfoAdmin(admin.ModelAdmin):
    list_display = ("server_id", "server_number", "max_id", "created_at")
    readonly_fields = ("server_id", "server_number", "max_id", "created_at")

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
