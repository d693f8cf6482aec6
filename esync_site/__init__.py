"""esync: keep CMS sites in step across servers."""

ESYNC_VERSION = "0.1.0"
