"""The basic Add Synchronization Profile form; its checks are profiles.services.validate's."""

from __future__ import annotations

from django import forms

from profiles.models import Profile
from profiles.services import validate

FILTER_CHOICES = [("none", "No filter"), ("include", "Only include these file types"),
                  ("exclude", "Exclude these file types as well")]
# services.validate names the filter "filter"; on the form it sits by the extensions.
FIELD_OF = {"filter": "filter_extensions"}


class ProfileForm(forms.Form):
    # Fields are not `required` here: validate() says what is missing, in the manual's words.
    name = forms.CharField(label="Synchronization Name", max_length=100, required=False)
    items = forms.MultipleChoiceField(label="Items To Synchronize", required=False,
                                      choices=Profile.Item.choices,
                                      widget=forms.CheckboxSelectMultiple)
    filter_mode = forms.ChoiceField(label="Include/Exclude Files", choices=FILTER_CHOICES,
                                    initial="none", required=False, widget=forms.RadioSelect)
    filter_extensions = forms.CharField(label="File extensions", required=False,
                                        max_length=500, help_text="e.g. *.doc, .gif, txt")
    direction = forms.ChoiceField(label="Synchronization Direction", required=False,
                                  choices=Profile.Direction.choices,
                                  initial=Profile.Direction.BIDIRECTIONAL,
                                  widget=forms.RadioSelect)
    policy = forms.ChoiceField(label="Conflict Resolution Policy", required=False,
                               choices=Profile.Policy.choices,
                               initial=Profile.Policy.REMOTE_WINS, widget=forms.RadioSelect)

    def __init__(self, *args, relationship, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.relationship = relationship

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        data["filter_mode"] = data.get("filter_mode") or "none"
        errors = validate(self.relationship, data.get("name", ""), data.get("items", []),
                          data["filter_mode"], data.get("filter_extensions", ""),
                          data.get("direction", ""), data.get("policy", ""))
        for field, message in errors.items():
            self.add_error(FIELD_OF.get(field, field), message)
        return data
