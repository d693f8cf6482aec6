from django.apps import AppConfig


class CertificatesConfig(AppConfig):
    name = "certificates"
    verbose_name = "Security certificates"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from certificates.models import TrustedPeer

        def trust_changed(**kwargs) -> None:
            # Imported here: TLS and cryptography are not needed to start every command.
            from certificates.trust import note_trust_changed

            note_trust_changed()

        # Any change to the trust store, from a screen, the CLI or the admin, reaches the
        # running sync service through the stamp.
        for signal in (post_save, post_delete):
            signal.connect(trust_changed, sender=TrustedPeer, weak=False,
                           dispatch_uid=f"esync-trust-{signal}")
