"""The CMS content esync carries between servers.

Every synced model takes its 64-bit key from this server's ID range (RangedAutoField), so
rows created on any server of a configuration never collide. Natural names the manual treats
as collisions (user names, folder name + path, metadata definition names, message titles)
are unique here as they are there.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone

from relationships.id_ranges import RangedAutoField

DEFAULT_LANGUAGE = 1033  # the manual's default content language (English, US)


class User(AbstractUser):
    """CMS users sign in to the Workarea; membership users are the site's registered visitors."""

    class Kind(models.TextChoices):
        CMS = "cms", "CMS user"
        MEMBERSHIP = "membership", "Membership user"

    id = RangedAutoField(primary_key=True)
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.CMS)

    @property
    def is_membership(self) -> bool:
        return self.kind == self.Kind.MEMBERSHIP


class Folder(models.Model):
    """A folder of the content tree; its name is unique among its siblings."""

    id = RangedAutoField(primary_key=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    name = models.CharField(max_length=200)
    description = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="folder_name_unique_in_parent"),
            models.UniqueConstraint(
                fields=["name"],
                condition=models.Q(parent__isnull=True),
                name="root_folder_name_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.path

    @property
    def ancestors(self) -> list[Folder]:
        chain: list[Folder] = []
        node = self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return list(reversed(chain))

    @property
    def path(self) -> str:
        return "/" + "/".join([*(f.name for f in self.ancestors), self.name])


class Content(models.Model):
    class Status(models.TextChoices):
        CHECKED_IN = "I", "Checked in"
        CHECKED_OUT = "O", "Checked out"
        SUBMITTED = "S", "Submitted for approval"
        APPROVED = "A", "Approved"
        PENDING_DELETE = "D", "Pending deletion"

    class Kind(models.TextChoices):
        HTML = "html", "HTML content"
        BLOG_POST = "blog", "Blog post"
        FORUM_POST = "forum", "Forum post"

    id = RangedAutoField(primary_key=True)
    language = models.PositiveIntegerField(default=DEFAULT_LANGUAGE)
    folder = models.ForeignKey(Folder, on_delete=models.PROTECT, related_name="contents")
    title = models.CharField(max_length=200)
    html = models.TextField(blank=True)
    status = models.CharField(max_length=1, choices=Status.choices, default=Status.CHECKED_IN)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.HTML)
    last_editor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    edited_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["title"]
        verbose_name_plural = "content"
        permissions = [("approve_content", "Can approve content")]

    def __str__(self) -> str:
        return f"{self.title} ({self.id})"


class ContentHistory(models.Model):
    """Every saved version of a content item, oldest first by version number."""

    id = RangedAutoField(primary_key=True)
    content = models.ForeignKey(Content, on_delete=models.CASCADE, related_name="history")
    version = models.PositiveIntegerField()
    language = models.PositiveIntegerField(default=DEFAULT_LANGUAGE)
    title = models.CharField(max_length=200)
    html = models.TextField(blank=True)
    status = models.CharField(max_length=1, choices=Content.Status.choices)
    editor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    saved_at = models.DateTimeField(default=timezone.now)
    comment = models.CharField(max_length=300, blank=True)

    class Meta:
        # Not unique per content: two servers that both edited an item each add the next
        # version, and both versions are kept when they meet in a sync.
        ordering = ["-version", "-saved_at"]
        verbose_name_plural = "content history"
        indexes = [models.Index(fields=["content", "version"], name="history_by_version")]

    def __str__(self) -> str:
        return f"{self.content_id} v{self.version}"


class LibraryItem(models.Model):
    """An image or file of the library; its file lives under the site root."""

    class Kind(models.TextChoices):
        IMAGE = "image", "Image"
        FILE = "file", "File"
        QUICKLINK = "quicklink", "Quicklink"

    id = RangedAutoField(primary_key=True)
    folder = models.ForeignKey(
        Folder, null=True, blank=True, on_delete=models.SET_NULL, related_name="library_items"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    title = models.CharField(max_length=200)
    # Site-root-relative path such as "uploadedimages/logo.png" (files and images) or a
    # link such as "/content/123" (quicklinks).
    path = models.CharField(max_length=500)
    content = models.ForeignKey(
        Content, null=True, blank=True, on_delete=models.CASCADE, related_name="quicklinks"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    @property
    def url(self) -> str:
        return self.path if self.kind == self.Kind.QUICKLINK else "/" + self.path


class MetadataDefinition(models.Model):
    id = RangedAutoField(primary_key=True)
    name = models.CharField(max_length=200, unique=True)
    description = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class MetadataValue(models.Model):
    id = RangedAutoField(primary_key=True)
    content = models.ForeignKey(Content, on_delete=models.CASCADE, related_name="metadata")
    definition = models.ForeignKey(MetadataDefinition, on_delete=models.CASCADE)
    value = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["content", "definition"], name="metadata_value_unique")
        ]


class Message(models.Model):
    """A system message (e.g. a notification e-mail text); titles are unique."""

    id = RangedAutoField(primary_key=True)
    title = models.CharField(max_length=200, unique=True)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.title


class Tag(models.Model):
    id = RangedAutoField(primary_key=True)
    name = models.CharField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class ContentTag(models.Model):
    id = RangedAutoField(primary_key=True)
    content = models.ForeignKey(Content, on_delete=models.CASCADE, related_name="tag_links")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="content_links")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["content", "tag"], name="content_tag_unique")
        ]


class TaxonomyCategory(models.Model):
    id = RangedAutoField(primary_key=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "taxonomy categories"
        constraints = [
            models.UniqueConstraint(
                fields=["parent", "name"], name="taxonomy_name_unique_in_parent"
            )
        ]

    def __str__(self) -> str:
        return self.name


class ContentTaxonomy(models.Model):
    id = RangedAutoField(primary_key=True)
    content = models.ForeignKey(Content, on_delete=models.CASCADE, related_name="taxonomy_links")
    category = models.ForeignKey(
        TaxonomyCategory, on_delete=models.CASCADE, related_name="content_links"
    )

    class Meta:
        verbose_name_plural = "content taxonomy"
        constraints = [
            models.UniqueConstraint(fields=["content", "category"], name="content_taxonomy_unique")
        ]


class Menu(models.Model):
    id = RangedAutoField(primary_key=True)
    title = models.CharField(max_length=200)
    folder = models.ForeignKey(Folder, null=True, blank=True, on_delete=models.SET_NULL)

    def __str__(self) -> str:
        return self.title


class MenuItem(models.Model):
    id = RangedAutoField(primary_key=True)
    menu = models.ForeignKey(Menu, on_delete=models.CASCADE, related_name="items")
    title = models.CharField(max_length=200)
    link = models.CharField(max_length=500, blank=True)
    content = models.ForeignKey(Content, null=True, blank=True, on_delete=models.SET_NULL)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["menu", "order"]


class UrlAlias(models.Model):
    """A friendly URL for a content item, e.g. /about-us → content 30."""

    id = RangedAutoField(primary_key=True)
    alias = models.CharField(max_length=300, unique=True)
    content = models.ForeignKey(Content, on_delete=models.CASCADE, related_name="aliases")
    language = models.PositiveIntegerField(default=DEFAULT_LANGUAGE)

    class Meta:
        verbose_name_plural = "URL aliases"

    def __str__(self) -> str:
        return self.alias


class ContentRating(models.Model):
    id = RangedAutoField(primary_key=True)
    content = models.ForeignKey(Content, on_delete=models.CASCADE, related_name="ratings")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    rating = models.PositiveSmallIntegerField()
    review = models.TextField(blank=True)
    rated_at = models.DateTimeField(default=timezone.now)
