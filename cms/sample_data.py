"""Sample site for the demo: folders, approved content with images, users of both kinds."""

from __future__ import annotations

import struct
import zlib

from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction

from cms import content as content_service
from cms.folders import create_folder
from cms.library import add_to_library
from cms.models import (
    Content,
    ContentRating,
    ContentTag,
    ContentTaxonomy,
    Menu,
    MenuItem,
    Message,
    MetadataDefinition,
    MetadataValue,
    Tag,
    TaxonomyCategory,
    UrlAlias,
    User,
)
from cms.roles import SYNCHRONIZATION_ADMIN


def solid_png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid PNG of one colour, without an imaging library."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF
        )

    row = b"\x00" + bytes(rgb) * width
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


PAGES = [
    ("About Us", "Company", "<p>We make widgets that keep sites in step.</p>", "logo"),
    ("About Us", "Contact", "<p>Write to <a href='mailto:info@example.com'>us</a>.</p>", None),
    ("News", "Spring launch", "<p>The spring range is out.</p>", "banner"),
    ("News", "Staging goes live", "<p>What staging approves reaches production.</p>", None),
    ("Widgets", "Blue widget", "<p>Our classic blue widget.</p>", "widget"),
    ("Widgets", "Green widget", "<p>New this year, in green.</p>", "widget"),
]


def seed_sample_site(password: str) -> dict[str, int]:
    """Create the demo's sample site once; a second call changes nothing."""
    if Content.objects.exists():
        return {"content": Content.objects.count(), "created": 0}
    with transaction.atomic():
        admin = User.objects.filter(is_superuser=True).order_by("id").first()
        editor = User.objects.create_user("jsmith", "jsmith@example.com", password,
                                          first_name="Jane", last_name="Smith")
        sync_admin = User.objects.create_user("syncadmin", "syncadmin@example.com", password)
        sync_admin.groups.add(Group.objects.get(name=SYNCHRONIZATION_ADMIN))
        members = [
            User.objects.create_user(name, f"{name}@example.net", password,
                                     kind=User.Kind.MEMBERSHIP)
            for name in ("visitor1", "visitor2")
        ]

        folders = {"About Us": create_folder(None, "About Us"), "News": create_folder(None, "News")}
        products = create_folder(None, "Products")
        folders["Widgets"] = create_folder(products, "Widgets")

        images = {}
        for name, colour in (("logo", (36, 59, 85)), ("banner", (255, 179, 71)),
                             ("widget", (45, 108, 223))):
            upload = SimpleUploadedFile(f"{name}.png", solid_png(64, 40, colour), "image/png")
            images[name] = add_to_library(upload, name.title(), admin)

        keywords = MetadataDefinition.objects.create(name="Keywords")
        featured = Tag.objects.create(name="featured")
        topics = TaxonomyCategory.objects.create(name="Topics")
        product_topic = TaxonomyCategory.objects.create(name="Products", parent=topics)
        menu = Menu.objects.create(title="Main menu")
        Message.objects.create(title="Welcome e-mail", body="Welcome to our site, {name}!")

        for order, (folder_name, title, html, image) in enumerate(PAGES):
            if image:
                html += f'<p><img src="{images[image].url}" alt="{images[image].title}"></p>'
            item = content_service.create_content(folders[folder_name], title, html, editor)
            content_service.approve_content(item, admin)
            MetadataValue.objects.create(content=item, definition=keywords,
                                         value=f"{folder_name.lower()}, {title.lower()}")
            MenuItem.objects.create(menu=menu, title=title, content=item, order=order)
            if folder_name == "Widgets":
                ContentTaxonomy.objects.create(content=item, category=product_topic)
                ContentTag.objects.create(content=item, tag=featured)
                ContentRating.objects.create(content=item, user=members[0], rating=5)
            if title == "Company":
                UrlAlias.objects.create(alias="about-us", content=item)
    return {"content": Content.objects.count(), "created": len(PAGES)}
