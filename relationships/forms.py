from django import forms

from certificates.models import TrustedPeer
from relationships.peer_grants import ITEMS


class ConnectForm(forms.Form):
    remote_server = forms.CharField(label="Remote Server", max_length=255)
    port = forms.IntegerField(label="Port Number", initial=8732, min_value=1, max_value=65535)
    certificate = forms.ModelChoiceField(label="Choose Certificate",
                                         queryset=TrustedPeer.objects.all(),
                                         empty_label="Please select")
    site = forms.ChoiceField(label="Site", required=False)

    def __init__(self, *args, sites: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["site"].choices = [(s, s) for s in sites]
        if len(sites) <= 1:
            self.fields["site"].widget = forms.HiddenInput()
            self.fields["site"].initial = sites[0] if sites else "default"
        peers = TrustedPeer.objects.all()
        if peers.count() == 1:
            self.fields["certificate"].initial = peers.first()

    def clean_remote_server(self) -> str:
        value = self.cleaned_data["remote_server"].strip()
        if not value or any(c in value for c in "/ @?#"):
            raise forms.ValidationError("Enter a host name or address, e.g. production.example")
        return value


class NarrowForm(forms.Form):
    """What a peer's relationship may write here at most (configurations screen, "Profiles
    of PEER that write here"). `nothing` is the "Allow nothing" button, which asks first."""

    # The screen labels the boxes (profiles.configurations_screen): the values are checked here.
    items = forms.MultipleChoiceField(required=False, choices=[(i, i) for i in ITEMS])
    accept_privileged = forms.BooleanField(required=False)
    nothing = forms.BooleanField(required=False)
