from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from cms import models


@admin.register(models.User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "id", "kind", "email", "is_active", "is_staff")
    list_filter = ("kind", "is_active", "groups")
    fieldsets = (*DjangoUserAdmin.fieldsets, ("esync", {"fields": ("kind",)}))


class ContentHistoryInline(admin.TabularInline):
    model = models.ContentHistory
    extra = 0
    fields = ("version", "title", "status", "editor", "saved_at", "comment")
    readonly_fields = fields


@admin.register(models.Content)
class ContentAdmin(admin.ModelAdmin):
    list_display = ("id", "title", "language", "status", "kind", "folder", "last_editor",
                    "edited_at")
    list_filter = ("status", "kind", "language")
    search_fields = ("title",)
    inlines = [ContentHistoryInline]


@admin.register(models.Folder)
class FolderAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "parent")
    search_fields = ("name",)


for model in (
    models.ContentHistory,
    models.LibraryItem,
    models.MetadataDefinition,
    models.MetadataValue,
    models.Message,
    models.Tag,
    models.ContentTag,
    models.TaxonomyCategory,
    models.ContentTaxonomy,
    models.Menu,
    models.MenuItem,
    models.UrlAlias,
    models.ContentRating,
):
    admin.site.register(model)
