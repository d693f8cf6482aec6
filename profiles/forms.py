"""The Add/Edit Synchronization Profile form; its checks are profiles.services.validate's."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils import timezone

from profiles.models import Profile
from profiles.schedules import KIND_LABELS, WEEKDAYS
from profiles.services import validate

FILTER_CHOICES = [("none", "No Filter"), ("include", "Only Include"), ("exclude", "Exclude")]
# services.validate names the filter "filter"; on the form it sits by the extensions.
FIELD_OF = {"filter": "filter_extensions"}


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M")


class ProfileForm(forms.Form):
    # Fields are not `required` here: validate() says what is missing, in the manual's words.
    name = forms.CharField(label="Synchronization Name", max_length=100, required=False)
    items = forms.MultipleChoiceField(label="Items To Synchronize", required=False,
                                      choices=Profile.Item.choices,
                                      widget=forms.CheckboxSelectMultiple)
    filter_mode = forms.ChoiceField(label="Include/Exclude Files", choices=FILTER_CHOICES,
                                    initial="none", required=False, widget=forms.RadioSelect)
    filter_extensions = forms.CharField(
        label="File extensions", required=False, max_length=500,
        help_text="Enter a comma separated list of file extents (example: *.doc, *.gif)")
    direction = forms.ChoiceField(label="Synchronization Direction", required=False,
                                  choices=[("bidirectional", "Bidirectional"),
                                           ("upload", "Upload (Local to Remote)"),
                                           ("download", "Download (Remote to Local)")],
                                  initial=Profile.Direction.BIDIRECTIONAL,
                                  widget=forms.RadioSelect)
    policy = forms.ChoiceField(label="Conflict Resolution Policy", required=False,
                               choices=[(Profile.Policy.REMOTE_WINS, "Version on Remote Site Wins"),
                                        (Profile.Policy.LOCAL_WINS, "Version on Local Site Wins")],
                               initial=Profile.Policy.REMOTE_WINS, widget=forms.RadioSelect,
                               help_text="Used when the direction is Bidirectional and a row "
                                         "changed on both servers since the last sync.")
    schedule = forms.ChoiceField(label="Schedule", required=False, initial="none",
                                 choices=list(KIND_LABELS.items()), widget=forms.RadioSelect)
    schedule_start = forms.DateTimeField(label="Start date and time", required=False,
                                         widget=DateTimeInput())
    schedule_weekday = forms.TypedChoiceField(
        label="Day of the week (Weekly)", required=False, coerce=int, empty_value=None,
        choices=[("", "—")] + [(str(i), day) for i, day in enumerate(WEEKDAYS)])
    schedule_day = forms.TypedChoiceField(
        label="Day of the month (Monthly)", required=False, coerce=int, empty_value=None,
        choices=[("", "—")] + [(str(d), str(d)) for d in range(1, 32)],
        help_text="A day past 28 does not run in months without it (31 skips February, "
                  "April, June, September and November).")

    def __init__(self, *args, relationship, profile: Profile | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.relationship = relationship
        self.profile = profile
        self.time_zone = settings.ESYNC.time_zone
        self.fields["schedule_start"].help_text = f"Time zone: {self.time_zone}"

    def full_clean(self) -> None:
        # A date and time typed on the form is the instance's wall clock.
        with timezone.override(self.time_zone):
            super().full_clean()

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        data["filter_mode"] = data.get("filter_mode") or "none"
        data["schedule"] = data.get("schedule") or "none"
        if data["schedule"] == "none":
            data.update(schedule_start=None, schedule_weekday=None, schedule_day=None)
        for field, message in validate(self.relationship, data, self.profile).items():
            self.add_error(FIELD_OF.get(field, field), message)
        return data
