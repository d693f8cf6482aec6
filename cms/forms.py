from django import forms

from cms.library import LinkRefused, check_library_item, check_quicklink
from cms.models import Content, LibraryItem


class ContentForm(forms.Form):
    title = forms.CharField(max_length=200)
    html = forms.CharField(
        label="Content (HTML)", required=False,
        widget=forms.Textarea(attrs={"rows": 16, "id": "id_html"}),
    )
    kind = forms.ChoiceField(choices=Content.Kind.choices, initial=Content.Kind.HTML)


class FolderForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(max_length=500, required=False)


class LibraryUploadForm(forms.Form):
    title = forms.CharField(max_length=200, required=False)
    file = forms.FileField()


class QuicklinkForm(forms.Form):
    """A quicklink for the library: a path on this site or an http(s) address, nothing else."""

    title = forms.CharField(max_length=200, required=False)
    link = forms.CharField(max_length=500, strip=False,
                           help_text="A path on this site (/content/12) or an http(s) address.")

    def clean_link(self) -> str:
        try:
            return check_quicklink(self.cleaned_data["link"])
        except LinkRefused as refused:
            raise forms.ValidationError(str(refused)) from None


class LibraryItemForm(forms.ModelForm):
    """A library row as the admin edits it: its path checked for its kind (see cms.library)."""

    class Meta:
        model = LibraryItem
        fields = "__all__"

    def clean(self) -> dict:
        cleaned = super().clean()
        kind, path = cleaned.get("kind"), cleaned.get("path")
        if kind and path is not None:
            try:
                check_library_item(kind, path)
            except LinkRefused as refused:
                self.add_error("path", str(refused))
        return cleaned
