"""The media store keeps bytes once by their SHA-256, types them by content, and
makes a thumbnail for an image once."""

from __future__ import annotations

import hashlib
import threading

import pytest
from django.db import transaction
from PIL import Image

from media import store
from media.models import StoredFile
from media.sniff import sniff
from tests.images import image_bytes

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_same_bytes_are_stored_once():
    png = image_bytes("PNG", (640, 480))

    first = store.store_bytes(png)
    again = store.store_bytes(png)

    assert again.pk == first.pk and StoredFile.objects.count() == 1
    assert first.sha256 == hashlib.sha256(png).hexdigest()
    assert first.size == len(png) and first.content_type == "image/png"
    assert (first.width, first.height) == (640, 480)
    assert store.read(first) == png
    assert first.name.startswith(f"{first.sha256[:2]}/{first.sha256[2:4]}/{first.sha256}")


def test_an_image_gets_one_small_jpeg_thumbnail_beside_it_when_first_shown():
    stored = store.store_bytes(image_bytes("PNG", (1200, 600)))
    assert stored.thumbnail == ""  # storing decodes nothing

    name = store.thumbnail(stored)

    assert name == stored.name.rsplit(".", 1)[0] + ".thumb.jpg"
    assert StoredFile.objects.get().thumbnail == name
    with store.media_storage().open(name) as handle, Image.open(handle) as thumb:
        assert thumb.format == "JPEG" and thumb.size == (320, 160)
    assert store.thumbnail(StoredFile.objects.get()) == name  # made once


def test_the_type_comes_from_the_bytes_not_from_a_claim():
    html = b"<html><script>alert(1)</script></html>"

    stored = store.store_bytes(html)

    assert stored.content_type == "application/octet-stream"
    assert store.thumbnail(stored) is None and not stored.shows_as_image
    assert sniff(image_bytes("JPEG"))[0] == "image/jpeg"
    assert sniff(image_bytes("GIF"))[0] == "image/gif"
    assert sniff(image_bytes("WEBP"))[0] == "image/webp"
    assert sniff(b"%PDF-1.7 ...")[0] == "application/pdf"


def test_a_broken_image_is_stored_without_a_thumbnail():
    broken = b"\x89PNG\r\n\x1a\n" + b"not really"

    stored = store.store_bytes(broken)

    assert stored.content_type == "image/png" and stored.width is None
    assert store.read(stored) == broken
    assert store.thumbnail(stored) is None  # tried once: shown as a file from now on
    assert StoredFile.objects.get().thumbnail == store.NO_THUMBNAIL
    assert not StoredFile.objects.get().shows_as_image


def test_more_than_the_limit_is_refused(settings):
    settings.BOTADMIN_MEDIA_MAX_BYTES = 100

    with pytest.raises(store.MediaTooLarge):
        store.store_bytes(b"x" * 101)
    assert store.store_bytes(b"x" * 100).size == 100
    assert StoredFile.objects.count() == 1


def test_writers_of_the_same_bytes_side_by_side_end_with_one_row_and_one_file():
    data = image_bytes("PNG", (300, 300))
    results, errors = [], []

    def write():
        try:
            results.append(store.store_bytes(data).pk)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=write) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors and len(set(results)) == 1
    stored = StoredFile.objects.get()
    folder, name = stored.name.rsplit("/", 1)
    assert store.media_storage().listdir(folder)[1] == [name]


def test_deleting_files_removes_bytes_and_thumbnail():
    stored = store.store_bytes(image_bytes("PNG", (50, 50)))
    names = [stored.name, store.thumbnail(stored)]

    assert store.delete_files([stored]) == 1

    assert not StoredFile.objects.exists()
    assert not any(store.media_storage().exists(name) for name in names)


def test_bytes_lost_from_the_store_are_written_again_when_they_come_back():
    png = image_bytes("PNG", (20, 20))
    stored = store.store_bytes(png)
    store.media_storage().delete(stored.name)

    assert store.store_bytes(png).pk == stored.pk
    assert store.read(stored) == png


def test_putting_bytes_asks_no_database_and_their_row_takes_one_statement(
    django_assert_num_queries,
):
    png = image_bytes("PNG", (40, 30))

    with django_assert_num_queries(0):
        put = store.put_bytes(png)
    with transaction.atomic():  # as a fetch settles: the row and its use in one commit
        with django_assert_num_queries(1):
            first = put.row_id()
        with django_assert_num_queries(1):  # there already: the same row, no second one
            assert store.put_bytes(png).row_id() == first

    assert StoredFile.objects.get().pk == first
