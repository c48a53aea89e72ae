from django.db import models
from django.utils.translation import gettext_lazy as _


class StoredFile(models.Model):
    """One file in the media store, kept once however many messages show it.

    Content-addressed: `sha256` names the bytes, and the same image sent to
    10,000 conversations is one row and one file. Messages refer to it through
    their media rows (messaging.MessageMedia); a file no row refers to any
    more is deleted by retention.
    """

    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"))
    # Recognised from the bytes, never from a name or a declared type.
    content_type = models.CharField(_("content type"), max_length=100)
    name = models.CharField(_("name in the store"), max_length=300)
    # A small JPEG beside the original, made once when first shown: "" not yet, "-" none
    # (an image Pillow cannot read).
    thumbnail = models.CharField(_("thumbnail"), max_length=300, blank=True, default="")
    width = models.PositiveIntegerField(_("width"), null=True, blank=True)
    height = models.PositiveIntegerField(_("height"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("stored file")
        verbose_name_plural = _("stored files")

    def __str__(self) -> str:
        return f"{self.sha256[:12]} {self.content_type} {self.size} B"

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    @property
    def shows_as_image(self) -> bool:
        """Shown as a picture (its thumbnail, made if need be) rather than as a file."""
        return self.is_image and self.thumbnail != "-"
