from django import forms

from cms.models import Content


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
